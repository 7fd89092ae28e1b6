// urql's core client with the normalized cache (graphcache), as a buyer: sign in, read the cart,
// add to it, and read the cart again from the cache alone. Prints one JSON document.
import { Client, fetchExchange, gql } from "@urql/core";
import { cacheExchange } from "@urql/exchange-graphcache";
import { config, describeError, emit, recordingFetch, step } from "./lib.mjs";

function client(token) {
  const recorder = recordingFetch();
  const urql = new Client({
    url: `${config.url}/graphql`,
    exchanges: [cacheExchange({}), fetchExchange],
    fetch: recorder.fetch,
    fetchOptions: () => (token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    preferGetMethod: false,
  });
  return { urql, exchanges: recorder.exchanges };
}

const LOGIN = gql`
  mutation UrqlLogin($email: String!, $password: String!) {
    login(email: $email, password: $password) {
      accessToken
      userErrors { field message code }
    }
  }
`;
const IN_STOCK = gql`
  query UrqlInStock {
    products(first: 20, filter: { inStock: true }) {
      edges { node { id variants { id minimumOrderQuantity availableQuantity } } }
    }
  }
`;
const CART_FIELDS = `id lines { id quantity variant { id } }`;
const CART = gql`
  query UrqlCart {
    cart { ${CART_FIELDS} }
  }
`;
const ADD = gql`
  mutation UrqlAddToCart($variantId: ID!, $quantity: Int!) {
    addToCart(variantId: $variantId, quantity: $quantity) {
      cart { ${CART_FIELDS} }
      userErrors { field message code }
    }
  }
`;

function unwrap(result) {
  if (result.error) throw result.error;
  return result.data;
}

const result = {};
let token = null;

result.login = await step(async () => {
  const { urql } = client(null);
  const data = unwrap(
    await urql.mutation(LOGIN, { email: config.email, password: config.password }).toPromise(),
  );
  token = data.login.accessToken;
  return { userErrors: data.login.userErrors, signedIn: typeof token === "string" };
});

result.cart = await step(async () => {
  const { urql, exchanges } = client(token);
  const catalog = unwrap(await urql.query(IN_STOCK, {}).toPromise());
  // A variant with stock for two minimum quantities: added twice, one line grows.
  const variant = catalog.products.edges
    .flatMap((edge) => edge.node.variants)
    .find((v) => v.availableQuantity >= 2 * v.minimumOrderQuantity);
  const quantity = variant.minimumOrderQuantity;
  const first = unwrap(await urql.mutation(ADD, { variantId: variant.id, quantity }).toPromise());
  const before = unwrap(await urql.query(CART, {}, { requestPolicy: "network-only" }).toPromise());
  const second = unwrap(await urql.mutation(ADD, { variantId: variant.id, quantity }).toPromise());
  const requests = exchanges.length;
  const cached = await urql.query(CART, {}, { requestPolicy: "cache-only" }).toPromise();
  const line = (cart) => cart?.lines.find((l) => l.variant.id === variant.id) ?? null;
  return {
    quantity,
    userErrors: [...first.addToCart.userErrors, ...second.addToCart.userErrors],
    sameCart: before.cart.id === second.addToCart.cart.id,
    quantityBefore: line(before.cart)?.quantity ?? null,
    quantityFromCache: line(cached.data?.cart)?.quantity ?? null,
    cacheError: describeError(cached.error),
    requestsForCacheRead: exchanges.length - requests,
  };
});

emit(result);
