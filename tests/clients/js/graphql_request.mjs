// graphql-request: a query with variables, and failures surfaced with their GraphQL codes.
// Prints one JSON document.
import { GraphQLClient, gql } from "graphql-request";
import { config, describeError, emit, recordingFetch, step } from "./lib.mjs";

function client(headers = {}) {
  const recorder = recordingFetch();
  const graphql = new GraphQLClient(`${config.url}/graphql`, { headers, fetch: recorder.fetch });
  return { graphql, exchanges: recorder.exchanges };
}

const PRICES = gql`
  query RequestPrices($first: Int, $currency: CurrencyCode) {
    products(first: $first, currency: $currency) {
      edges { node { priceRange { min { currency } } } }
    }
  }
`;
const ME = gql`
  query RequestMe {
    me { email }
  }
`;

async function failure(run, exchanges) {
  let error = null;
  try {
    await run();
  } catch (caught) {
    error = describeError(caught);
  }
  const last = exchanges.at(-1);
  return { error, status: last?.status ?? null, contentType: last?.contentType ?? null };
}

const result = {};

result.variables = await step(async () => {
  const { graphql } = client();
  const data = await graphql.request(PRICES, { first: 2, currency: "JPY" });
  return { currencies: data.products.edges.map((e) => e.node.priceRange?.min?.currency ?? null) };
});

result.badToken = await step(async () => {
  const { graphql, exchanges } = client({ authorization: "Bearer not-a-token" });
  return failure(() => graphql.request(ME), exchanges);
});

result.badVariable = await step(async () => {
  const { graphql, exchanges } = client();
  return failure(() => graphql.request(PRICES, { first: "many" }), exchanges);
});

emit(result);
