// A mobile app built with GraphQL Code Generator's client preset (persistedDocuments, sha256)
// against a server that runs only trusted documents: every operation goes by its id, over POST,
// GET and WebSocket (graphql-ws). Prints one JSON document.
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { config, describeError, emit, recordingFetch, step } from "./lib.mjs";

const { url, ids } = config; // ids: operation name -> the id Code Generator emitted
const recorder = recordingFetch();
const endpoint = `${url}/graphql`;
const MEDIA = "application/graphql-response+json, application/json;q=0.9";

function outcome(exchange) {
  const answer = typeof exchange.answer === "object" ? exchange.answer : {};
  return {
    status: exchange.status,
    contentType: exchange.contentType,
    codes: (answer?.errors ?? []).map((e) => e.extensions?.code ?? null),
    data: answer?.data ?? null,
  };
}

async function post(body, token) {
  const headers = { "content-type": "application/json", accept: MEDIA };
  if (token) headers.authorization = `Bearer ${token}`;
  await recorder.fetch(endpoint, { method: "POST", headers, body: JSON.stringify(body) });
  return outcome(recorder.exchanges.at(-1));
}

async function get(parameters) {
  await recorder.fetch(`${endpoint}?${new URLSearchParams(parameters)}`, {
    method: "GET",
    headers: { accept: MEDIA },
  });
  return outcome(recorder.exchanges.at(-1));
}

const byId = (name, variables, token) => post({ documentId: ids[name], variables }, token);

const result = {};
const state = {};

result.catalogPost = await step(() => byId("ReadmeCatalogQuery"));
result.catalogGet = await step(() => get({ documentId: ids.ReadmeCatalogQuery }));
result.unregisteredText = await step(() => post({ query: "{ categories { name } }" }));

result.sellerLogin = await step(async () => {
  const answer = await byId("ReadmeSellerLoginMutation");
  state.seller = answer.data?.login?.accessToken ?? null;
  return { ...answer, data: null, signedIn: typeof state.seller === "string" };
});

result.quoteRequested = await step(async () => {
  const buyer = await byId("ClientsLoginMutation", {
    email: config.buyerEmail,
    password: config.password,
  });
  const buyerToken = buyer.data.login.accessToken;
  const me = await byId("ClientsMeQuery", {}, state.seller);
  const sellerId = me.data.me.company.id;
  const products = await byId("ClientsSellerVariantsQuery", { sellerId }, buyerToken);
  const variant = products.data.products.edges[0].node.variants[0];
  const neededBy = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10);
  const requested = await byId(
    "ClientsRequestQuoteMutation",
    {
      input: {
        sellerId,
        neededBy,
        lines: [{ variantId: variant.id, quantity: variant.minimumOrderQuantity }],
      },
    },
    buyerToken,
  );
  state.requestId = requested.data.requestQuote.quoteRequest.id;
  return { userErrors: requested.data.requestQuote.userErrors, requestId: state.requestId };
});

// The seller follows its quote requests by the subscription's id, from the start of its stream
// (`since: "0"`), so the request made above arrives whenever the subscription starts.
result.subscription = await step(async () => {
  const client = createClient({
    url: endpoint.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${state.seller}` },
    retryAttempts: 0,
  });
  const events = [];
  let error = null;
  const safety = setTimeout(() => client.terminate(), 15_000); // a hang becomes a failure
  try {
    // graphql-ws refuses to send a payload without a string `query` (and then leaves a promise
    // that rejects unhandled with the socket's CloseEvent on dispose): its persisted-queries
    // recipe sends an empty one beside the id.
    const subscription = client.iterate({
      query: "",
      documentId: ids.ClientsQuoteUpdatedSubscription,
      variables: { since: "0" },
    });
    for await (const next of subscription) {
      if (next.errors) {
        error = { codes: next.errors.map((e) => e.extensions?.code ?? null), messages: next.errors.map((e) => e.message) };
        break;
      }
      events.push(next.data.quoteUpdated);
      if (next.data.quoteUpdated.quoteRequest?.id === state.requestId) break;
    }
  } catch (caught) {
    error = Array.isArray(caught)
      ? { codes: caught.map((e) => e.extensions?.code ?? null), messages: caught.map((e) => e.message) }
      : describeError(caught);
  } finally {
    clearTimeout(safety);
    await client.dispose();
  }
  const mine = events.filter((event) => event.quoteRequest?.id === state.requestId);
  return { error, kinds: mine.map((event) => event.kind) };
});

emit(result);
