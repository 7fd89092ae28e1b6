/*
 * The gateway's GraphiQL page (no inline script: the page's Content-Security-Policy allows
 * scripts from the gateway only).
 *
 * Queries and mutations go over HTTP to the page's own URL (the GraphQL endpoint), subscriptions
 * over graphql-transport-ws to the same URL as ws(s)://. The headers typed in the Headers pane go
 * with every HTTP request and, for a subscription, in connection_init, so
 * {"Authorization": "Bearer <accessToken>"} signs in both.
 * `?query=…&variables=…` in the page's URL opens a tab with that operation.
 */
(function () {
  "use strict";

  // GraphiQL's dialogs add <style> elements (react-remove-scroll) tagged with this nonce, the
  // only inline style the page's CSP allows. Read it while this script runs.
  window.__webpack_nonce__ = document.currentScript.nonce;

  var endpoint = new URL(window.location.pathname, window.location.href);
  var socketEndpoint = new URL(endpoint.href);
  socketEndpoint.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";

  var DEFAULT_QUERY = [
    "# B2B marketplace gateway. To act as a user, sign in",
    "# with the login mutation and put the token in the",
    "# Headers pane below (sent with every operation):",
    '#   {"Authorization": "Bearer <accessToken>"}',
    "",
    "{",
    "  categories {",
    "    name",
    "  }",
    "}",
    "",
  ].join("\n");

  var httpFetcher = GraphiQL.createFetcher({ url: endpoint.href });

  /* The kind of the operation about to run: "query", "mutation" or "subscription". */
  function operationKind(documentAST, operationName) {
    if (!documentAST) {
      return null;
    }
    var operations = documentAST.definitions.filter(function (definition) {
      return definition.kind === "OperationDefinition";
    });
    var chosen = operations.filter(function (operation) {
      return operationName
        ? operation.name && operation.name.value === operationName
        : operations.length === 1;
    });
    return chosen.length === 1 ? chosen[0].operation : null;
  }

  /* What went wrong with a subscription, as GraphQL errors for the response pane. */
  function subscriptionErrors(error) {
    if (Array.isArray(error)) {
      return error; // the gateway refused the operation (validation, permissions)
    }
    if (error && typeof error.code === "number") {
      // A CloseEvent: 4403 is a refused token, 4401 an expired one, 4429 too many messages.
      var reason = error.reason ? ": " + error.reason : "";
      return [{ message: "The subscription's WebSocket closed (" + error.code + reason + ")" }];
    }
    if (error instanceof Error) {
      return [{ message: error.message }];
    }
    return [{ message: "The subscription's WebSocket failed: is the gateway reachable?" }];
  }

  /* A subscription on its own WebSocket, as the Observable GraphiQL expects. */
  function subscribe(params, headers) {
    return {
      subscribe: function (sink) {
        var client = graphqlWs.createClient({
          url: socketEndpoint.href,
          connectionParams: headers || {},
          retryAttempts: 0,
        });
        var payload = { query: params.query };
        if (params.variables) {
          payload.variables = params.variables;
        }
        if (params.operationName) {
          payload.operationName = params.operationName;
        }
        var stop = client.subscribe(payload, {
          next: function (result) {
            sink.next(result);
          },
          error: function (error) {
            sink.next({ errors: subscriptionErrors(error) });
            sink.complete();
            client.dispose();
          },
          complete: function () {
            sink.complete();
            client.dispose();
          },
        });
        return {
          unsubscribe: function () {
            stop();
            client.dispose();
          },
        };
      },
    };
  }

  function fetcher(params, options) {
    var kind = operationKind(options && options.documentAST, params.operationName);
    if (kind === "subscription") {
      return subscribe(params, options.headers);
    }
    return httpFetcher(params, options);
  }

  var search = new URLSearchParams(window.location.search);
  var props = {
    fetcher: fetcher,
    defaultQuery: DEFAULT_QUERY,
    isHeadersEditorEnabled: true,
    // Open on the Headers pane, where the bearer token goes. Headers stay out of
    // localStorage unless the user turns on "Persist headers" in the settings.
    defaultEditorToolsVisibility: "headers",
  };
  if (search.get("query")) {
    props.query = search.get("query");
    props.variables = search.get("variables") || undefined;
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, props)
  );
})();
