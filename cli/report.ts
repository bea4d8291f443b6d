/** Prints a lab report for a person: nodes, sign-in, where the password is, the access matrix, logging. */

// The report is JSON from the verify step; every field is read defensively so an older report prints too.
type Json = Record<string, unknown>;

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const format = (cells: string[]) => cells.map((cell, i) => (cell ?? '').padEnd(widths[i]!)).join('  ');
  return [format(headers), format(widths.map((w) => '-'.repeat(w))), ...rows.map(format)].join('\n');
}

const text = (value: unknown) => (value === undefined || value === null ? '' : String(value));

export function formatReport(report: Json): string {
  const out: string[] = [];
  out.push(
    `Lab ${text(report.labId)} (${text(report.policyMode)} policy): ${report.ok === false ? 'NOT OK' : 'ready'}`,
  );
  const nodes = (report.nodes as Json[] | undefined) ?? [];
  if (nodes.length) {
    out.push('', 'Nodes');
    out.push(
      table(
        ['host', 'environment', 'node id', 'ping'],
        nodes.map((n) => [text(n.role), text(n.environment), text(n.nodeId), text(n.pingStatus)]),
      ),
    );
  }
  const user = (report.user as Json | undefined) ?? {};
  out.push('', 'Sign-in');
  out.push(`  URL:       ${text(report.signInUrl)}`);
  out.push(`  user:      ${text(user.userName)}`);
  out.push(
    `  password:  in Secrets Manager, ${text(user.passwordSecretArn)} (a new password must be set at first sign-in)`,
  );
  const matrix = (report.accessMatrix as Json[] | undefined) ?? [];
  if (matrix.length) {
    out.push('', 'Access matrix (ssm:StartSession)');
    out.push(
      table(
        ['host', 'node id', 'expected', 'actual', ''],
        matrix.map((cell) => [
          text(cell.role),
          text(cell.nodeId),
          text(cell.expected),
          text(cell.actual),
          cell.expected === cell.actual ? 'ok' : 'MISMATCH',
        ]),
      ),
    );
  }
  const preferences = report.preferences as Json | undefined;
  if (preferences) {
    out.push('', 'Session logging preferences');
    for (const [key, value] of Object.entries(preferences))
      out.push(`  ${key}: ${typeof value === 'object' ? JSON.stringify(value) : text(value)}`);
  }
  return out.join('\n');
}
