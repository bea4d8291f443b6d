/**
 * Resolves the CloudFormation intrinsic functions the synthesized template uses (Ref, Fn::GetAtt,
 * Fn::Join, Fn::Sub, Fn::Select, Fn::Split) against a local deployment's physical names, so the
 * local runner grants and configures each function exactly as the template says.
 */

export interface ResolveScope {
  /** AWS::Region, AWS::AccountId, AWS::Partition, AWS::StackName, AWS::URLSuffix. */
  pseudo: Record<string, string>;
  /** What `Ref` of a resource's logical id gives. */
  ref(logicalId: string): string;
  /** What `Fn::GetAtt` of a resource's attribute gives. */
  getAtt(logicalId: string, attribute: string): string;
}

export class UnresolvableIntrinsic extends Error {
  override name = 'UnresolvableIntrinsic';
}

const refOf = (scope: ResolveScope, name: string): string =>
  name.startsWith('AWS::')
    ? (scope.pseudo[name] ?? fail(`no value for pseudo parameter ${name}`))
    : scope.ref(name);

function fail(message: string): never {
  throw new UnresolvableIntrinsic(message);
}

/** `${Name}` and `${Name.Attr}` in an Fn::Sub string; `${!Literal}` stays `${Literal}`. */
function substitute(template: string, scope: ResolveScope, variables: Record<string, string>): string {
  return template.replace(/\$\{([^}]+)\}/g, (_whole, name: string) => {
    if (name.startsWith('!')) return `\${${name.slice(1)}}`;
    if (name in variables) return variables[name]!;
    const dot = name.indexOf('.');
    if (dot > 0 && !name.startsWith('AWS::')) return scope.getAtt(name.slice(0, dot), name.slice(dot + 1));
    return refOf(scope, name);
  });
}

/** The value with every intrinsic replaced by a string; plain values pass through. */
export function resolve(value: unknown, scope: ResolveScope): unknown {
  if (Array.isArray(value)) return value.map((item) => resolve(item, scope));
  if (!value || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 1) {
    const [key, arg] = entries[0]!;
    const str = (v: unknown) => {
      const resolved = resolve(v, scope);
      return typeof resolved === 'string'
        ? resolved
        : fail(`${key}: expected a string, got ${JSON.stringify(v)}`);
    };
    switch (key) {
      case 'Ref':
        return refOf(scope, String(arg));
      case 'Fn::GetAtt': {
        const [logicalId, attribute] = Array.isArray(arg) ? arg : String(arg).split('.');
        return scope.getAtt(String(logicalId), String(attribute));
      }
      case 'Fn::Join': {
        const [separator, parts] = arg as [string, unknown[]];
        return (resolve(parts, scope) as unknown[]).map((p) => String(p)).join(separator);
      }
      case 'Fn::Sub': {
        if (typeof arg === 'string') return substitute(arg, scope, {});
        const [text, vars] = arg as [string, Record<string, unknown>];
        const variables = Object.fromEntries(Object.entries(vars ?? {}).map(([k, v]) => [k, str(v)]));
        return substitute(text, scope, variables);
      }
      case 'Fn::Select': {
        const [index, list] = arg as [unknown, unknown];
        const items = resolve(list, scope) as unknown[];
        return items[Number(resolve(index, scope))] ?? fail(`Fn::Select: index out of range`);
      }
      case 'Fn::Split': {
        const [separator, text] = arg as [string, unknown];
        return str(text).split(separator);
      }
      default:
        if (key.startsWith('Fn::') || key === 'Condition') fail(`unsupported intrinsic ${key}`);
    }
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, resolve(v, scope)]));
}
