/** The registration script, inlined as text by esbuild's `.sh` text loader in the Lambda bundle. */
declare module '*.sh' {
  const text: string;
  export default text;
}
