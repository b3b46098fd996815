/**
 * A small JSON Schema (2020-12 subset) validator for the status tests: the keywords
 * docs/status.schema.json uses, and nothing else (an unknown keyword is an error, so the schema
 * cannot silently rely on something this does not check). Returns every violation with its path.
 */

type Schema = Record<string, unknown>;

const ANNOTATIONS = new Set(['$schema', '$id', 'title', 'description', '$defs']);
const KEYWORDS = new Set([
  'type',
  'const',
  'enum',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'maxItems',
  'minimum',
  'minLength',
  'pattern',
  'oneOf',
  '$ref',
]);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function matchesType(v: unknown, t: string): boolean {
  const actual = typeOf(v);
  return actual === t || (t === 'number' && actual === 'integer');
}

export function validate(root: Schema, value: unknown): string[] {
  const errors: string[] = [];
  const resolve = (ref: string): Schema => {
    const m = /^#\/\$defs\/([A-Za-z0-9_]+)$/.exec(ref);
    const defs = root.$defs as Record<string, Schema> | undefined;
    const target = m === null ? undefined : defs?.[m[1]!];
    if (target === undefined) throw new Error(`unsupported or unknown $ref ${ref}`);
    return target;
  };
  const check = (schema: Schema, v: unknown, path: string, out: string[]): void => {
    for (const key of Object.keys(schema)) {
      if (!KEYWORDS.has(key) && !ANNOTATIONS.has(key))
        throw new Error(`the validator does not know "${key}"`);
    }
    if (typeof schema.$ref === 'string') check(resolve(schema.$ref), v, path, out);
    if (schema.type !== undefined) {
      const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
      if (!types.some((t) => matchesType(v, t))) {
        out.push(`${path}: expected ${types.join(' or ')}, got ${typeOf(v)}`);
        return;
      }
    }
    if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(v))
      out.push(`${path}: expected ${JSON.stringify(schema.const)}`);
    if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(v)))
      out.push(`${path}: ${JSON.stringify(v)} is not one of ${JSON.stringify(schema.enum)}`);
    if (typeof v === 'number' && typeof schema.minimum === 'number' && v < schema.minimum)
      out.push(`${path}: ${v} < ${schema.minimum}`);
    if (typeof v === 'string') {
      if (typeof schema.minLength === 'number' && v.length < schema.minLength)
        out.push(`${path}: shorter than ${schema.minLength}`);
      if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(v))
        out.push(`${path}: ${JSON.stringify(v)} does not match ${schema.pattern}`);
    }
    if (Array.isArray(v)) {
      if (typeof schema.maxItems === 'number' && v.length > schema.maxItems)
        out.push(`${path}: more than ${schema.maxItems} items`);
      if (schema.items !== undefined)
        for (const [i, x] of v.entries()) check(schema.items as Schema, x, `${path}[${i}]`, out);
    }
    if (typeOf(v) === 'object') {
      const o = v as Record<string, unknown>;
      const props = (schema.properties ?? {}) as Record<string, Schema>;
      for (const r of (schema.required ?? []) as string[]) if (!(r in o)) out.push(`${path}: missing "${r}"`);
      for (const [k, x] of Object.entries(o)) {
        if (props[k] !== undefined) check(props[k], x, `${path}.${k}`, out);
        else if (schema.additionalProperties === false) out.push(`${path}: unexpected property "${k}"`);
      }
    }
    if (Array.isArray(schema.oneOf)) {
      const passing = (schema.oneOf as Schema[]).filter((s) => {
        const sub: string[] = [];
        check(s, v, path, sub);
        return sub.length === 0;
      });
      if (passing.length !== 1)
        out.push(`${path}: matches ${passing.length} of the oneOf alternatives, expected exactly 1`);
    }
  };
  check(root, value, '$', errors);
  return errors;
}
