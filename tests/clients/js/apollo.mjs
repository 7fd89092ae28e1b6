// Apollo Client 4 as a web app uses it: client awareness, automatic persisted queries, enum-like
// literals and variables, a login, a bad token and a throttled answer. Prints one JSON document.
import { createHash } from "node:crypto";
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { tap } from "rxjs";
import { config, describeError, emit, recordingFetch, step } from "./lib.mjs";

const sha256 = (text) => createHash("sha256").update(text).digest("hex");

function client({
  url = config.url,
  headers = {},
  persisted = false,
  links = [],
  fetchOptions = {},
} = {}) {
  const recorder = recordingFetch();
  const http = new HttpLink({ uri: `${url}/graphql`, fetch: recorder.fetch, headers, fetchOptions });
  const chain = [...links, ...(persisted ? [new PersistedQueryLink({ sha256 })] : []), http];
  const apollo = new ApolloClient({
    cache: new InMemoryCache(),
    link: ApolloLink.from(chain),
    clientAwareness: { name: "clients-test-web", version: "4.0.0-test" },
    defaultOptions: { query: { fetchPolicy: "network-only" } },
  });
  return { apollo, exchanges: recorder.exchanges };
}

const CATEGORIES = gql`
  query ApolloCategories {
    categories {
      name
    }
  }
`;
const PRICES_LITERAL = gql`
  query ApolloPricesInEuro {
    products(first: 3, currency: EUR) {
      edges { node { priceRange { min { amount currency } } } }
    }
  }
`;
const PRICES_VARIABLE = gql`
  query ApolloPricesIn($currency: CurrencyCode) {
    products(first: 3, currency: $currency) {
      edges { node { priceRange { min { amount currency } } } }
    }
  }
`;
const LOGIN = gql`
  mutation ApolloLogin($email: String!, $password: String!) {
    login(email: $email, password: $password) {
      accessToken
      userErrors { field message code }
    }
  }
`;
const ME = gql`
  query ApolloMe {
    me { email }
  }
`;
const PAGE = gql`
  query ApolloOneProduct {
    products(first: 1) { totalCount edges { node { name } } }
  }
`;

const currencies = (data) =>
  data.products.edges.map((edge) => edge.node.priceRange?.min?.currency ?? null);

const result = {};

result.awareness = await step(async () => {
  const { apollo, exchanges } = client();
  const { data } = await apollo.query({ query: CATEGORIES });
  return {
    categories: data.categories.length,
    clientName: exchanges[0].headers["apollographql-client-name"] ?? null,
    clientVersion: exchanges[0].headers["apollographql-client-version"] ?? null,
    status: exchanges[0].status,
  };
});

result.currencyLiteral = await step(async () => {
  const { apollo } = client();
  const { data } = await apollo.query({ query: PRICES_LITERAL });
  return { currencies: currencies(data) };
});

result.currencyVariable = await step(async () => {
  const { apollo } = client();
  const { data } = await apollo.query({ query: PRICES_VARIABLE, variables: { currency: "EUR" } });
  return { currencies: currencies(data) };
});

result.apq = await step(async () => {
  const { apollo, exchanges } = client({ persisted: true });
  const calls = [];
  for (let call = 0; call < 2; call++) {
    const before = exchanges.length;
    const { data } = await apollo.query({ query: CATEGORIES });
    calls.push({
      categories: data.categories.length,
      requests: exchanges.slice(before).map((exchange) => ({
        document: exchange.body?.query ?? null,
        sentHash: exchange.body?.extensions?.persistedQuery?.sha256Hash ?? null,
        status: exchange.status,
        codes: (exchange.answer?.errors ?? []).map((e) => e.extensions?.code ?? null),
      })),
    });
  }
  return { calls };
});

result.login = await step(async () => {
  const { apollo } = client();
  const { data } = await apollo.mutate({
    mutation: LOGIN,
    variables: { email: config.email, password: config.password },
  });
  const token = data.login.accessToken;
  const signedIn = client({ headers: { authorization: `Bearer ${token}` } });
  const me = await signedIn.apollo.query({ query: ME });
  return { userErrors: data.login.userErrors, email: me.data.me?.email ?? null };
});

result.badToken = await step(async () => {
  const { apollo, exchanges } = client({ headers: { authorization: "Bearer not-a-token" } });
  let error = null;
  try {
    await apollo.query({ query: ME });
  } catch (caught) {
    error = describeError(caught);
  }
  const last = exchanges.at(-1);
  return { error, status: last.status, contentType: last.contentType };
});

// An app that sends everything over GET (fetchOptions.method) sends its mutations so too.
result.mutationOverGet = await step(async () => {
  const { apollo, exchanges } = client({ fetchOptions: { method: "GET" } });
  let error = null;
  try {
    await apollo.mutate({
      mutation: LOGIN,
      variables: { email: "nobody@example.com", password: "not-the-password" },
    });
  } catch (caught) {
    error = describeError(caught);
  }
  const last = exchanges.at(-1);
  return { error, method: last.method, status: last.status, allow: last.allow };
});

if (config.throttledUrl) {
  result.throttled = await step(async () => {
    // What an app reads from the answer Apollo's HttpLink put in the operation's context.
    let retryAfter = null;
    const readRetryAfter = new ApolloLink((operation, forward) => {
      const read = () => {
        retryAfter = operation.getContext().response?.headers?.get("retry-after") ?? retryAfter;
      };
      return forward(operation).pipe(tap({ next: read, error: read }));
    });
    const { apollo, exchanges } = client({ url: config.throttledUrl, links: [readRetryAfter] });
    let error = null;
    let answered = 0;
    while (error === null && answered < 200) {
      try {
        await apollo.query({ query: PAGE });
        answered += 1;
      } catch (caught) {
        error = describeError(caught);
      }
    }
    const last = exchanges.at(-1);
    return { answered, error, retryAfter, status: last.status, contentType: last.contentType };
  });
}

emit(result);
