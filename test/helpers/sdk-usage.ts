import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';

/**
 * Which AWS API calls a lab task makes, read from its source: every `new <Name>Command(`,
 * `paginate<Name>(` and `waitUntil<Name>(` whose identifier is imported from `@aws-sdk/client-*`,
 * in the task's folder and in whatever it uses from `functions/shared/` (followed function by
 * function, not file by file, so a task that uses one helper of a module is not charged with the
 * others). The result is IAM actions: `ssm:PutParameter`.
 */

/** The IAM service prefix of each SDK client package the tasks use. */
export const IAM_PREFIX: Record<string, string> = {
  '@aws-sdk/client-ssm': 'ssm',
  '@aws-sdk/client-iam': 'iam',
  '@aws-sdk/client-ec2': 'ec2',
  '@aws-sdk/client-cloudwatch-logs': 'logs',
  '@aws-sdk/client-secrets-manager': 'secretsmanager',
  '@aws-sdk/client-sts': 'sts',
  '@aws-sdk/client-sfn': 'states',
  '@aws-sdk/client-dynamodb': 'dynamodb',
  '@aws-sdk/client-eventbridge': 'events',
  '@aws-sdk/client-cloudtrail': 'cloudtrail',
  '@aws-sdk/lib-dynamodb': 'dynamodb',
};

/** The document client's commands and the DynamoDB operations (IAM actions) they send. */
export const DOCUMENT_CLIENT_OPERATIONS: Record<string, string> = {
  Get: 'GetItem',
  Put: 'PutItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  Query: 'Query',
  Scan: 'Scan',
  BatchGet: 'BatchGetItem',
  BatchWrite: 'BatchWriteItem',
  TransactGet: 'TransactGetItems',
  TransactWrite: 'TransactWriteItems',
};

/** The operation each SDK waiter polls (the waiter's name is not an operation). */
export const WAITER_OPERATIONS: Record<string, string> = {
  InstanceRunning: 'DescribeInstances',
  InstanceStopped: 'DescribeInstances',
  InstanceTerminated: 'DescribeInstances',
  InstanceExists: 'DescribeInstances',
  InstanceStatusOk: 'DescribeInstanceStatus',
  KeyPairExists: 'DescribeKeyPairs',
  SecurityGroupExists: 'DescribeSecurityGroups',
  CommandExecuted: 'GetCommandInvocation',
  RoleExists: 'GetRole',
  UserExists: 'GetUser',
  InstanceProfileExists: 'GetInstanceProfile',
  PolicyExists: 'GetPolicy',
};

/** Calls that need no IAM permission. */
export const NO_PERMISSION_NEEDED = new Set(['sts:GetCallerIdentity']);

interface Binding {
  /** A resolved file path for relative imports, the package name otherwise. */
  from: string;
  /** The name exported by `from`. */
  imported: string;
}

interface ParsedModule {
  source: ts.SourceFile;
  imports: Map<string, Binding>;
  /** Top-level declarations by name (functions, classes, variables). */
  declarations: Map<string, ts.Node>;
}

const parsed = new Map<string, ParsedModule>();

function resolveRelative(fromFile: string, specifier: string): string | undefined {
  const base = resolve(dirname(fromFile), specifier);
  for (const candidate of [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')]) {
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function parse(file: string): ParsedModule {
  const cached = parsed.get(file);
  if (cached) return cached;
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const imports = new Map<string, Binding>();
  const declarations = new Map<string, ts.Node>();
  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement) && ts.isStringLiteral(statement.moduleSpecifier)) {
      if (statement.importClause?.isTypeOnly) continue;
      const specifier = statement.moduleSpecifier.text;
      const from = specifier.startsWith('.') ? resolveRelative(file, specifier) : specifier;
      if (!from) continue;
      const bindings = statement.importClause?.namedBindings;
      if (bindings && ts.isNamedImports(bindings)) {
        for (const element of bindings.elements) {
          if (element.isTypeOnly) continue;
          imports.set(element.name.text, { from, imported: (element.propertyName ?? element.name).text });
        }
      }
    } else if ((ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement)) && statement.name) {
      declarations.set(statement.name.text, statement);
    } else if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) {
        if (ts.isIdentifier(declaration.name)) declarations.set(declaration.name.text, declaration);
      }
    }
  }
  const module = { source, imports, declarations };
  parsed.set(file, module);
  return module;
}

/** The IAM action an SDK identifier stands for, when it is a command, paginator or waiter. */
function actionOf(binding: Binding, identifier: string, node: ts.Node): string | undefined {
  const prefix = IAM_PREFIX[binding.from];
  if (!prefix) return undefined;
  const name = binding.imported;
  const parent = node.parent;
  const command = /^(\w+)Command$/.exec(name);
  if (command && parent && ts.isNewExpression(parent) && parent.expression === node) {
    if (binding.from !== '@aws-sdk/lib-dynamodb') return `${prefix}:${command[1]}`;
    const operation = DOCUMENT_CLIENT_OPERATIONS[command[1]!];
    if (!operation)
      throw new Error(`unknown document client command ${identifier}: add it to DOCUMENT_CLIENT_OPERATIONS`);
    return `${prefix}:${operation}`;
  }
  const called = parent && ts.isCallExpression(parent) && parent.expression === node;
  const paginator = /^paginate(\w+)$/.exec(name);
  if (paginator && called) return `${prefix}:${paginator[1]}`;
  const waiter = /^waitUntil(\w+)$/.exec(name);
  if (waiter && called) {
    const operation = WAITER_OPERATIONS[waiter[1]!];
    if (!operation) throw new Error(`unknown waiter ${identifier}: add it to WAITER_OPERATIONS`);
    return `${prefix}:${operation}`;
  }
  return undefined;
}

/** The actions reachable from `node` in `file`, following same-file and relative references. */
function collect(file: string, node: ts.Node, found: Set<string>, visited: Set<string>): void {
  const module = parse(file);
  const visit = (child: ts.Node): void => {
    // An import is not a use: what a file imports counts only where the file uses it.
    if (ts.isImportDeclaration(child)) return;
    if (ts.isIdentifier(child)) {
      const name = child.text;
      const binding = module.imports.get(name);
      if (binding) {
        const action = actionOf(binding, name, child);
        if (action) found.add(action);
        else if (binding.from.endsWith('.ts')) follow(binding.from, binding.imported, found, visited);
      } else if (module.declarations.has(name)) {
        follow(file, name, found, visited);
      }
    }
    ts.forEachChild(child, visit);
  };
  visit(node);
}

function follow(file: string, name: string, found: Set<string>, visited: Set<string>): void {
  const key = `${file}#${name}`;
  if (visited.has(key)) return;
  visited.add(key);
  const declaration = parse(file).declarations.get(name);
  if (declaration) collect(file, declaration, found, visited);
}

/** Every IAM action one exported function (or constant) of `file` can call. */
export function sdkActionsOfExport(file: string, name: string): Set<string> {
  const found = new Set<string>();
  follow(file, name, found, new Set());
  return found;
}

/** Every IAM action the task in `folder` can call, from all of its own files and what they use. */
export function sdkActionsOfTask(folder: string): Set<string> {
  const found = new Set<string>();
  const visited = new Set<string>();
  for (const entry of readdirSync(folder)) {
    if (!entry.endsWith('.ts') || entry.endsWith('.test.ts')) continue;
    const file = join(folder, entry);
    collect(file, parse(file).source, found, visited);
  }
  return found;
}
