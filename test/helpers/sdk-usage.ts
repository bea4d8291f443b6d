import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';

/**
 * Which AWS API calls a lab task makes, read from its source: every `new <Name>Command(`,
 * `paginate<Name>(` and `waitUntil<Name>(` whose identifier is imported from `@aws-sdk/client-*`,
 * in the task's folder and in whatever it uses from `functions/shared/` (followed function by
 * function, not file by file, so a task that uses one helper of a module is not charged with the
 * others; a class method by method, by the member names used). The result is IAM actions:
 * `ssm:PutParameter`.
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

/**
 * What a scan has found and where it has been. A class is followed member by member: its
 * constructor and fields at once, each method only once its name is used somewhere the scan
 * reaches (`registry.getLab(...)`, `this.updateLab(...)`), so a task that calls one method of a
 * class is not charged with the others.
 */
interface Scan {
  found: Set<string>;
  visited: Set<string>;
  usedMembers: Set<string>;
  /** Methods of followed classes whose names have not been used yet. */
  pendingMethods: Map<string, { file: string; node: ts.Node }[]>;
}

const newScan = (): Scan => ({
  found: new Set(),
  visited: new Set(),
  usedMembers: new Set(),
  pendingMethods: new Map(),
});

/** The actions reachable from `node` in `file`, following same-file and relative references. */
function collect(file: string, node: ts.Node, scan: Scan): void {
  const module = parse(file);
  const visit = (child: ts.Node): void => {
    // An import is not a use: what a file imports counts only where the file uses it.
    if (ts.isImportDeclaration(child)) return;
    if (ts.isPropertyAccessExpression(child)) useMember(child.name.text, scan);
    if (ts.isIdentifier(child)) {
      const name = child.text;
      const binding = module.imports.get(name);
      if (binding) {
        const action = actionOf(binding, name, child);
        if (action) scan.found.add(action);
        else if (binding.from.endsWith('.ts')) follow(binding.from, binding.imported, scan);
      } else if (module.declarations.has(name)) {
        follow(file, name, scan);
      }
    }
    ts.forEachChild(child, visit);
  };
  visit(node);
}

function useMember(name: string, scan: Scan): void {
  if (scan.usedMembers.has(name)) return;
  scan.usedMembers.add(name);
  const pending = scan.pendingMethods.get(name) ?? [];
  scan.pendingMethods.delete(name);
  for (const method of pending) collect(method.file, method.node, scan);
}

function follow(file: string, name: string, scan: Scan): void {
  const key = `${file}#${name}`;
  if (scan.visited.has(key)) return;
  scan.visited.add(key);
  const declaration = parse(file).declarations.get(name);
  if (!declaration) return;
  if (!ts.isClassDeclaration(declaration)) return collect(file, declaration, scan);
  for (const heritage of declaration.heritageClauses ?? []) collect(file, heritage, scan);
  for (const member of declaration.members) {
    const method =
      (ts.isMethodDeclaration(member) || ts.isGetAccessorDeclaration(member)) &&
      member.name &&
      (ts.isIdentifier(member.name) || ts.isPrivateIdentifier(member.name))
        ? member.name.text
        : undefined;
    if (method === undefined) collect(file, member, scan);
    else if (scan.usedMembers.has(method)) collect(file, member, scan);
    else
      scan.pendingMethods.set(method, [...(scan.pendingMethods.get(method) ?? []), { file, node: member }]);
  }
}

/** Every IAM action one exported function (or constant) of `file` can call. */
export function sdkActionsOfExport(file: string, name: string): Set<string> {
  const scan = newScan();
  follow(file, name, scan);
  return scan.found;
}

/** Every IAM action the task in `folder` can call, from all of its own files and what they use. */
export function sdkActionsOfTask(folder: string): Set<string> {
  const scan = newScan();
  for (const entry of readdirSync(folder)) {
    if (!entry.endsWith('.ts') || entry.endsWith('.test.ts')) continue;
    const file = join(folder, entry);
    collect(file, parse(file).source, scan);
  }
  return scan.found;
}
