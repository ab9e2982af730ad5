// $(VAR) expansion exactly as third_party/forked/golang/expansion: `$$` escapes a `$`, `$(NAME)` is replaced
// when NAME is known and left verbatim otherwise, an unterminated `$(` is kept as is.

export type Mapping = (name: string) => string;

/** MappingFuncFor: looks a name up in each context in order; unknown names stay as `$(NAME)`. */
export function mappingFor(...contexts: ReadonlyMap<string, string>[]): Mapping {
  return (name) => {
    for (const ctx of contexts) {
      const v = ctx.get(name);
      if (v !== undefined) return v;
    }
    return `$(${name})`;
  };
}

/** Expand(input, mapping). */
export function expand(input: string, mapping: Mapping): string {
  let out = '';
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] === '$' && cursor + 1 < input.length) {
      out += input.slice(checkpoint, cursor);
      const { read, isVar, advance } = tryReadVariableName(input.slice(cursor + 1));
      out += isVar ? mapping(read) : read;
      cursor += advance;
      checkpoint = cursor + 1;
    }
  }
  return out + input.slice(checkpoint);
}

function tryReadVariableName(input: string): { read: string; isVar: boolean; advance: number } {
  const c = input[0];
  if (c === '$') return { read: '$', isVar: false, advance: 1 };
  if (c === '(') {
    const close = input.indexOf(')', 1);
    if (close >= 1) return { read: input.slice(1, close), isVar: true, advance: close + 1 };
    return { read: '$(', isVar: false, advance: 1 };
  }
  return { read: `$${c}`, isVar: false, advance: 1 };
}

/** kubecontainer.ExpandContainerCommandAndArgs for one list. */
export function expandAll(list: string[] | undefined, env: ReadonlyMap<string, string>): string[] | undefined {
  if (!list || list.length === 0) return undefined;
  const m = mappingFor(env);
  return list.map((s) => expand(s, m));
}

/**
 * ExpandContainerVolumeMounts for subPathExpr: every referenced name must resolve to a non-empty value,
 * otherwise the error lists the missing names (sorted).
 */
export function expandSubPathExpr(expr: string, env: ReadonlyMap<string, string>): { value: string } | { missing: string[] } {
  const missing = new Set<string>();
  const v = expand(expr, (name) => {
    const val = env.get(name);
    if (!val) missing.add(name);
    return val ?? '';
  });
  return missing.size ? { missing: [...missing].sort() } : { value: v };
}
