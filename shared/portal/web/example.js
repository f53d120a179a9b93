// example builds a sample value from a JSON Schema: its example(s), default, const or
// first enum value when given, else a value of its type, so every catalog entry shows
// what a payload looks like.
export function example(schema, depth = 0) {
  if (!schema || typeof schema !== 'object' || depth > 8) return null;
  if (Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0];
  for (const k of ['example', 'default', 'const']) if (k in schema) return schema[k];
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  for (const k of ['oneOf', 'anyOf', 'allOf']) if (Array.isArray(schema[k]) && schema[k].length) return example(schema[k][0], depth + 1);
  let type = schema.type;
  if (Array.isArray(type)) type = type.find((t) => t !== 'null') || type[0];
  if (!type && schema.properties) type = 'object';
  switch (type) {
    case 'object': {
      const out = {};
      for (const [k, v] of Object.entries(schema.properties || {})) out[k] = example(v, depth + 1);
      return out;
    }
    case 'array': return [example(schema.items, depth + 1)].filter((v) => v !== null);
    case 'integer': return schema.minimum ?? 1;
    case 'number': return schema.minimum ?? 1.5;
    case 'boolean': return true;
    case 'null': return null;
    case 'string':
      switch (schema.format) {
        case 'date-time': return '2026-01-01T12:00:00Z';
        case 'date': return '2026-01-01';
        case 'email': return 'someone@example.com';
        case 'uri': case 'url': return 'https://example.com';
        case 'uuid': return '00000000-0000-4000-8000-000000000000';
        default: return 'string';
      }
    default: return null;
  }
}
