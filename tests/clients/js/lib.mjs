// Shared by the client scripts: the config pytest passes, a fetch that records every HTTP
// exchange (what the client sent, what it got back), and one JSON document on stdout.
// No assertions here: pytest reads the JSON and decides.

export const config = JSON.parse(process.argv[2] ?? "{}");

export function recordingFetch() {
  const exchanges = [];
  const recorded = async (input, init = {}) => {
    const url = new URL(input instanceof URL || typeof input === "string" ? input : input.url);
    const headers = Object.fromEntries(new Headers(init.headers ?? {}).entries());
    let body = null;
    if (typeof init.body === "string") {
      try {
        body = JSON.parse(init.body);
      } catch {
        body = init.body;
      }
    }
    const response = await fetch(input, init);
    const text = await response.clone().text();
    let answer = null;
    try {
      answer = JSON.parse(text);
    } catch {
      answer = text;
    }
    exchanges.push({
      method: init.method ?? "GET",
      query: Object.fromEntries(url.searchParams.entries()),
      headers,
      body,
      status: response.status,
      contentType: response.headers.get("content-type"),
      retryAfter: response.headers.get("retry-after"),
      allow: response.headers.get("allow"),
      answer,
    });
    return response;
  };
  return { fetch: recorded, exchanges };
}

// What a client library hands its caller when an operation fails: its error class and the
// GraphQL error codes it exposes (none when it hides them in a body text).
export function describeError(error) {
  if (error == null) return null;
  const graphqlErrors =
    error.errors ?? error.graphQLErrors ?? error.response?.errors ?? error.result?.errors ?? [];
  return {
    name: error.name ?? error.constructor?.name,
    message: String(error.message ?? error),
    codes: graphqlErrors.map((e) => e?.extensions?.code ?? null),
    statusCode: error.statusCode ?? error.response?.status ?? null,
    // A WebSocket's close (graphql-ws rejects with the CloseEvent itself).
    ...(typeof error.code === "number" ? { closeCode: error.code, reason: error.reason } : {}),
  };
}

// Runs one step; its failure becomes data, so every step reports.
export async function step(run) {
  try {
    return { ok: true, ...(await run()) };
  } catch (error) {
    return { ok: false, error: describeError(error) };
  }
}

export function emit(result) {
  process.stdout.write(JSON.stringify(result) + "\n");
}
