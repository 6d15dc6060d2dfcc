"""Scenarios for /v2/keys store operations, dispatch, paths and response encoding (spec §1, §7)."""

from __future__ import annotations

from tests.compat.dsl import (
    FORM,
    JSON,
    Bulk,
    Scenario,
    delete,
    get,
    head,
    keepalive,
    post,
    put,
    req,
    scenario,
)

K = "/v2/keys"
LIST = f"{K}/?recursive=true&sorted=true"

STORE = [
    scenario("fresh-root-index", get(K)),
    scenario("root-trailing-slash", get(f"{K}/")),
    scenario("set-new-201", put(f"{K}/a", "value=1"), get(f"{K}/a")),
    scenario(
        "set-replace-200-new-created-index",
        put(f"{K}/a", "value=1"),
        put(f"{K}/a", "value=2"),
        get(f"{K}/a"),
    ),
    scenario("set-without-value-is-empty", put(f"{K}/a"), get(f"{K}/a")),
    scenario("set-dir-ignores-value", put(f"{K}/d?dir=true", "value=x"), get(f"{K}/d")),
    scenario("set-dir-on-existing-dir-102", put(f"{K}/d?dir=true"), put(f"{K}/d?dir=true")),
    scenario(
        "set-dir-replaces-file", put(f"{K}/a", "value=1"), put(f"{K}/a?dir=true"), get(f"{K}/a")
    ),
    scenario("set-file-on-dir-102", put(f"{K}/d?dir=true"), put(f"{K}/d", "value=1")),
    scenario("set-root-107", put(K, "value=1"), put(f"{K}/", "value=1")),
    scenario("set-creates-parents", put(f"{K}/a/b/c", "value=1"), get(LIST)),
    scenario("set-below-file-104", put(f"{K}/f", "value=1"), put(f"{K}/f/g", "value=2")),
    scenario("get-missing-100", get(f"{K}/nope")),
    scenario(
        "get-first-missing-prefix", put(f"{K}/a", "value=1"), get(f"{K}/x/y/z"), get(f"{K}/a/y/z")
    ),
    scenario("get-below-file-104", put(f"{K}/f", "value=1"), get(f"{K}/f/g/h")),
    scenario(
        "get-dir-one-level",
        put(f"{K}/d/x", "value=1"),
        put(f"{K}/d/sub/y", "value=2"),
        put(f"{K}/d/e?dir=true"),
        get(f"{K}/d"),
    ),
    scenario(
        "get-dir-recursive",
        put(f"{K}/d/x", "value=1"),
        put(f"{K}/d/sub/y", "value=2"),
        put(f"{K}/d/e?dir=true"),
        get(f"{K}/d?recursive=true"),
    ),
    scenario(
        "get-sorted-order",
        put(f"{K}/s/c", "value=3"),
        put(f"{K}/s/a", "value=1"),
        put(f"{K}/s/b/z", "value=2"),
        put(f"{K}/s/B", "value=0"),
        get(f"{K}/s?sorted=true"),
        get(f"{K}/s?recursive=true&sorted=true"),
    ),
    scenario(
        "get-root-listing",
        put(f"{K}/b", "value=2"),
        put(f"{K}/a/x", "value=1"),
        get(K),
        get(f"{K}?recursive=true&sorted=true"),
    ),
    scenario(
        "get-file-recursive-sorted-harmless",
        put(f"{K}/f", "value=1"),
        get(f"{K}/f?recursive=true&sorted=true"),
    ),
    scenario(
        "get-empty-dir-no-nodes",
        put(f"{K}/d?dir=true"),
        get(f"{K}/d"),
        get(f"{K}/d?recursive=true"),
    ),
    scenario("create-201", put(f"{K}/c?prevExist=false", "value=1"), get(f"{K}/c")),
    scenario(
        "create-existing-105", put(f"{K}/c", "value=1"), put(f"{K}/c?prevExist=false", "value=2")
    ),
    scenario(
        "create-ignores-prev-conditions",
        put(f"{K}/c?prevExist=false&prevValue=zz&prevIndex=99", "value=1"),
    ),
    scenario("create-dir", put(f"{K}/d?dir=true&prevExist=false"), get(f"{K}/d")),
    scenario("update-missing-100", put(f"{K}/u?prevExist=true", "value=1")),
    scenario(
        "update-keeps-created-index",
        put(f"{K}/u", "value=1"),
        put(f"{K}/u?prevExist=true", "value=2"),
        get(f"{K}/u"),
    ),
    scenario(
        "update-dir-with-value-102", put(f"{K}/d?dir=true"), put(f"{K}/d?prevExist=true", "value=2")
    ),
    scenario(
        "update-dir-keeps-stored-modified-index",
        put(f"{K}/d?dir=true"),
        put(f"{K}/d?dir=true&prevExist=true", "ttl=100"),
        get(f"{K}/d"),
        put(f"{K}/d?dir=true&prevExist=true"),
        get(f"{K}/d"),
    ),
    scenario(
        "updatedir-on-file-empties-value",
        put(f"{K}/f", "value=1"),
        put(f"{K}/f?dir=true&prevExist=true"),
        get(f"{K}/f"),
    ),
    scenario("update-root-107", put(f"{K}?prevExist=true", "value=1")),
    scenario("cas-prev-value-ok", put(f"{K}/c", "value=1"), put(f"{K}/c?prevValue=1", "value=2")),
    scenario(
        "cas-prev-value-101",
        put(f"{K}/c", "value=1"),
        put(f"{K}/c?prevValue=9", "value=2"),
        get(f"{K}/c"),
    ),
    scenario("cas-prev-index-ok", put(f"{K}/c", "value=1"), put(f"{K}/c?prevIndex=4", "value=2")),
    scenario("cas-prev-index-101", put(f"{K}/c", "value=1"), put(f"{K}/c?prevIndex=7", "value=2")),
    scenario(
        "cas-both-101-cause",
        put(f"{K}/c", "value=1"),
        put(f"{K}/c?prevValue=9&prevIndex=7", "value=2"),
    ),
    scenario(
        "cas-value-only-mismatch-with-index",
        put(f"{K}/c", "value=1"),
        put(f"{K}/c?prevValue=9&prevIndex=4", "value=2"),
    ),
    scenario(
        "cas-prev-exist-true",
        put(f"{K}/c", "value=1"),
        put(f"{K}/c?prevExist=true&prevValue=1", "value=2"),
    ),
    scenario("cas-missing-100", put(f"{K}/c?prevValue=1", "value=2")),
    scenario("cas-dir-102", put(f"{K}/d?dir=true"), put(f"{K}/d?prevValue=1", "value=2")),
    scenario("cas-root-107", put(f"{K}?prevValue=1", "value=2")),
    scenario("prev-index-zero-is-plain-set", put(f"{K}/c?prevIndex=0", "value=2")),
    scenario("delete-file", put(f"{K}/a", "value=1"), delete(f"{K}/a"), get(f"{K}/a")),
    scenario("delete-missing-100", delete(f"{K}/a")),
    scenario("delete-dir-without-flag-102", put(f"{K}/d?dir=true"), delete(f"{K}/d")),
    scenario("delete-empty-dir", put(f"{K}/d?dir=true"), delete(f"{K}/d?dir=true")),
    scenario("delete-non-empty-dir-108", put(f"{K}/d/x", "value=1"), delete(f"{K}/d?dir=true")),
    scenario(
        "delete-recursive",
        put(f"{K}/d/x", "value=1"),
        put(f"{K}/d/y/z", "value=2"),
        delete(f"{K}/d?recursive=true"),
        get(f"{K}/d"),
    ),
    scenario(
        "delete-recursive-implies-dir", put(f"{K}/d?dir=true"), delete(f"{K}/d?recursive=true")
    ),
    scenario("delete-dir-flag-on-file", put(f"{K}/a", "value=1"), delete(f"{K}/a?dir=true")),
    scenario("delete-root-107", delete(K), delete(f"{K}?recursive=true"), delete(f"{K}/")),
    scenario(
        "delete-ignores-prev-exist", put(f"{K}/a", "value=1"), delete(f"{K}/a?prevExist=false")
    ),
    scenario(
        "delete-body-ignored",
        put(f"{K}/a", "value=1"),
        req(
            "DELETE",
            f"{K}/a",
            "prevValue=zz",
            (("Content-Type", "application/x-www-form-urlencoded"),),
        ),
    ),
    scenario("cad-prev-value-ok", put(f"{K}/a", "value=1"), delete(f"{K}/a?prevValue=1")),
    scenario("cad-prev-value-101", put(f"{K}/a", "value=1"), delete(f"{K}/a?prevValue=2")),
    scenario("cad-prev-index-ok", put(f"{K}/a", "value=1"), delete(f"{K}/a?prevIndex=4")),
    scenario(
        "cad-prev-index-101", put(f"{K}/a", "value=1"), delete(f"{K}/a?prevIndex=9&prevValue=2")
    ),
    scenario("cad-dir-102", put(f"{K}/d?dir=true"), delete(f"{K}/d?prevValue=1&recursive=true")),
    scenario("cad-root-102-no-cause", delete(f"{K}?prevValue=1"), delete(f"{K}/?prevIndex=3")),
    scenario("cad-missing-100", delete(f"{K}/a?prevValue=1")),
    scenario(
        "post-in-order",
        post(f"{K}/q", "value=a"),
        post(f"{K}/q", "value=b"),
        put(f"{K}/other", "value=x"),
        post(f"{K}/q", "value=c"),
        get(f"{K}/q?recursive=true&sorted=true"),
    ),
    scenario("post-in-order-dir", post(f"{K}/q?dir=true"), get(f"{K}/q?sorted=true")),
    scenario("post-onto-file-104", put(f"{K}/f", "value=1"), post(f"{K}/f", "value=2")),
    scenario("post-to-root", post(K, "value=r"), get(f"{K}?sorted=true")),
    scenario(
        "post-ignores-conditions", post(f"{K}/q?prevExist=true&prevValue=x&prevIndex=9", "value=1")
    ),
    scenario("post-with-ttl", post(f"{K}/q", "value=1&ttl=100")),
    scenario(
        "failed-writes-keep-index",
        put(f"{K}/a", "value=1"),
        put(f"{K}/a?prevExist=false", "value=2"),
        put(f"{K}/a?prevValue=x", "value=2"),
        delete(f"{K}/zz"),
        put(f"{K}/b", "value=3"),
    ),
    scenario(
        "quorum-get",
        put(f"{K}/a", "value=1"),
        get(f"{K}/a?quorum=true"),
        get(f"{K}/zz?quorum=true"),
    ),
    scenario(
        "wait-with-quorum-is-plain-get",
        put(f"{K}/a", "value=1"),
        get(f"{K}/a?wait=true&quorum=true"),
    ),
    scenario(
        "no-value-on-success-set-create",
        put(f"{K}/a?noValueOnSuccess=true", "value=1"),
        put(f"{K}/a?noValueOnSuccess=true", "value=2"),
        put(f"{K}/b?prevExist=false&noValueOnSuccess=true", "value=1"),
        post(f"{K}/q?noValueOnSuccess=true", "value=1"),
    ),
    scenario(
        "no-value-on-success-update-cas",
        put(f"{K}/a", "value=1"),
        put(f"{K}/a?prevExist=true&noValueOnSuccess=true", "value=2"),
        put(f"{K}/a?prevValue=2&noValueOnSuccess=true", "value=3"),
    ),
    scenario(
        "no-value-on-success-ignored-for-delete-get-errors",
        put(f"{K}/a", "value=1"),
        get(f"{K}/a?noValueOnSuccess=true"),
        put(f"{K}/a?prevExist=false&noValueOnSuccess=true", "value=1"),
        delete(f"{K}/a?prevValue=1&noValueOnSuccess=true"),
    ),
    scenario("no-value-on-success-in-body", put(f"{K}/a", "value=1&noValueOnSuccess=true")),
]

PARAMS = [
    scenario("ttl-not-a-number-202", put(f"{K}/a?ttl=abc", "value=1")),
    scenario("ttl-negative-202", put(f"{K}/a?ttl=-1", "value=1")),
    scenario("ttl-fraction-202", put(f"{K}/a?ttl=1.5", "value=1")),
    scenario("ttl-empty-means-none", put(f"{K}/a?ttl=", "value=1"), get(f"{K}/a")),
    scenario("ttl-leading-zeros", put(f"{K}/a?ttl=0100", "value=1"), get(f"{K}/a")),
    scenario("ttl-huge-overflows", put(f"{K}/a?ttl=99999999999999", "value=1")),
    scenario("dir-bad-209", put(f"{K}/a?dir=yes")),
    scenario("dir-empty-209", put(f"{K}/a?dir=")),
    scenario(
        "bool-true-spellings",
        put(f"{K}/a?dir=T"),
        put(f"{K}/b?dir=TRUE"),
        put(f"{K}/c?dir=True"),
        put(f"{K}/d?dir=1"),
        put(f"{K}/e?dir=t"),
        get(f"{K}?sorted=true"),
    ),
    scenario(
        "bool-false-spellings",
        put(f"{K}/a?dir=F", "value=1"),
        put(f"{K}/b?dir=FALSE", "value=1"),
        put(f"{K}/c?dir=False", "value=1"),
        put(f"{K}/d?dir=0", "value=1"),
        put(f"{K}/e?dir=f", "value=1"),
    ),
    scenario("bool-mixed-case-rejected", put(f"{K}/a?dir=tRUE"), get(f"{K}/a?recursive=yes")),
    scenario("prev-value-empty-201", put(f"{K}/a?prevValue=", "value=1")),
    scenario("prev-index-bad-203", put(f"{K}/a?prevIndex=x", "value=1")),
    scenario("prev-index-empty-203", put(f"{K}/a?prevIndex=", "value=1")),
    scenario("prev-index-negative-203", delete(f"{K}/a?prevIndex=-1")),
    scenario(
        "prev-index-leading-zeros",
        put(f"{K}/a", "value=1"),
        put(f"{K}/a?prevIndex=0004", "value=2"),
    ),
    scenario("wait-index-bad-203", get(f"{K}/a?wait=true&waitIndex=x")),
    scenario("wait-index-empty-203", get(f"{K}/a?waitIndex=")),
    scenario("recursive-bad-209", get(f"{K}/a?recursive=x")),
    scenario("sorted-bad-209", get(f"{K}/a?sorted=x")),
    scenario("wait-bad-209", get(f"{K}/a?wait=x")),
    scenario("quorum-bad-209", get(f"{K}/a?quorum=x")),
    scenario("stream-bad-209", get(f"{K}/a?stream=x")),
    scenario("wait-on-put-209", put(f"{K}/a?wait=true", "value=1")),
    scenario("wait-on-post-209", post(f"{K}/a?wait=true", "value=1")),
    scenario("wait-on-delete-209", delete(f"{K}/a?wait=true")),
    scenario("wait-on-head-209", head(f"{K}/a?wait=true")),
    scenario("no-value-on-success-bad-209", put(f"{K}/a?noValueOnSuccess=x", "value=1")),
    scenario("prev-exist-bad-209", put(f"{K}/a?prevExist=x", "value=1")),
    scenario(
        "prev-exist-bad-on-get-and-delete",
        get(f"{K}/a?prevExist=x"),
        delete(f"{K}/a?prevExist=x"),
        post(f"{K}/a?prevExist=x"),
    ),
    scenario("refresh-bad-209", put(f"{K}/a?refresh=x&ttl=5")),
    scenario(
        "refresh-with-value-211",
        put(f"{K}/a", "value=1"),
        put(f"{K}/a?refresh=true&ttl=5", "value=2"),
    ),
    scenario("refresh-without-ttl-212", put(f"{K}/a", "value=1"), put(f"{K}/a?refresh=true")),
    scenario("order-prev-index-before-wait-index", get(f"{K}/a?prevIndex=x&waitIndex=y")),
    scenario("order-wait-index-before-bools", get(f"{K}/a?waitIndex=y&recursive=x")),
    scenario("order-bools-before-wait-on-put", put(f"{K}/a?wait=true&sorted=x")),
    scenario("order-wait-on-put-before-prev-value", put(f"{K}/a?wait=true&prevValue=")),
    scenario(
        "order-prev-value-before-no-value-on-success", put(f"{K}/a?prevValue=&noValueOnSuccess=x")
    ),
    scenario("order-no-value-on-success-before-ttl", put(f"{K}/a?noValueOnSuccess=x&ttl=x")),
    scenario("order-ttl-before-prev-exist", put(f"{K}/a?ttl=x&prevExist=x")),
    scenario("order-prev-exist-before-refresh", put(f"{K}/a?prevExist=x&refresh=x")),
    scenario("order-refresh-value-before-no-ttl", put(f"{K}/a?refresh=true", "value=1")),
    scenario("order-form-before-everything", put(f"{K}/a?x=1;y=2&prevIndex=x")),
    scenario("semicolon-in-query-210", get(f"{K}/a?a=1;b=2")),
    scenario(
        "form-body-too-large-210", put(f"{K}/big", "value=" + "x" * (10 * 1024 * 1024 + 1 - 6))
    ),
    scenario("body-beats-query", put(f"{K}/a?value=query", "value=body"), get(f"{K}/a")),
    scenario(
        "first-duplicate-wins",
        put(f"{K}/a?value=first&value=second"),
        put(f"{K}/b", "value=one&value=two"),
    ),
    scenario(
        "non-form-body-ignored",
        req("PUT", f"{K}/a", "value=x", (("Content-Type", "text/plain"),)),
        req("PUT", f"{K}/b", "value=x", JSON),
    ),
    scenario(
        "form-content-type-with-charset",
        req(
            "PUT",
            f"{K}/a",
            "value=x",
            (("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),),
        ),
    ),
    scenario("form-body-plus-escapes", put(f"{K}/a", "value=a+b%20c%26d%3D"), get(f"{K}/a")),
]

PATHS = [
    scenario("trailing-slash-dropped", put(f"{K}/a/", "value=1"), get(f"{K}/a"), get(f"{K}/a/")),
    scenario(
        "percent-2f-is-separator",
        put(f"{K}/a%2Fb", "value=1"),
        get(f"{K}/a/b"),
        get(f"{K}/a?sorted=true"),
    ),
    scenario(
        "percent-space-and-question",
        put(f"{K}/sp%20ace", "value=1"),
        put(f"{K}/q%3Fmark", "value=2"),
        get(f"{K}?sorted=true"),
    ),
    scenario(
        "unicode-key", put(f"{K}/%C3%A9t%C3%A9", "value=%E2%9C%93"), get(f"{K}/%C3%A9t%C3%A9")
    ),
    scenario("double-slash-301", put(f"{K}//a?x=1", "value=1"), get(f"{K}/a")),
    scenario("dot-segment-301", get(f"{K}/./a"), get(f"{K}/a/.")),
    scenario("dotdot-segment-301", put(f"{K}/a/../b", "value=1"), get(f"{K}/b")),
    scenario("encoded-double-slash-301", get(f"{K}/a%2F%2Fb")),
    scenario("encoded-dot-301", get(f"{K}/a/%2E%2E/b")),
    scenario("bad-escape-400", get(f"{K}/a%zz"), put(f"{K}/%", "value=1")),
    scenario("keys-suffix-404", get("/v2/keysX"), get("/v2/key")),
    scenario("unknown-path-404", get("/nope"), put("/v2/nope", "value=1"), get("/v3/keys")),
    scenario(
        "method-not-allowed-405",
        req("PATCH", f"{K}/a", "value=1"),
        req("TRACE", K),
        req("BREW", f"{K}/a"),
    ),
    scenario(
        "options-cors",
        req("OPTIONS", f"{K}/a"),
        req("OPTIONS", "/nowhere"),
        req("OPTIONS", "/v2/members"),
        req("OPTIONS", "/version"),
    ),
    scenario(
        "cors-with-origin",
        get(f"{K}", (("Origin", "http://example.test"),)),
        req(
            "OPTIONS",
            f"{K}/a",
            headers=(("Origin", "http://example.test"), ("Access-Control-Request-Method", "PUT")),
        ),
    ),
    scenario("head-file", put(f"{K}/a", "value=hello"), head(f"{K}/a")),
    scenario("head-missing-404", head(f"{K}/nope")),
    scenario("head-dir-and-root", put(f"{K}/d/x", "value=1"), head(f"{K}/d?sorted=true"), head(K)),
    scenario("head-error-209", head(f"{K}/a?recursive=x")),
]

ESCAPING = [
    scenario("json-escape-html", put(f"{K}/h", "value=%3Ca%3E%26b"), get(f"{K}/h")),
    scenario("json-escape-line-separators", put(f"{K}/ls", "value=a%E2%80%A8b%E2%80%A9c")),
    scenario("json-escape-control-chars", put(f"{K}/cc", "value=%08%01%1F%0C%0B%00")),
    scenario("json-escape-newline-tab-cr", put(f"{K}/nl", "value=a%0Ab%09c%0Dd")),
    scenario("json-escape-quote-backslash-slash", put(f"{K}/qb", "value=%22%5C%2F")),
    scenario("json-del-and-non-ascii-raw", put(f"{K}/na", "value=%7F%C3%A9%F0%9F%98%80")),
    scenario("json-invalid-utf8-value", put(f"{K}/iu", "value=a%FFb%C3"), get(f"{K}/iu")),
    scenario("json-invalid-utf8-key", put(f"{K}/k%FF", "value=1"), get(f"{K}?sorted=true")),
    scenario("json-escape-in-key", put(f"{K}/%3Ckey%3E%26", "value=1"), get(f"{K}/%3Ckey%3E%26")),
    scenario("json-escape-in-error-cause", get(f"{K}/%3Cmissing%3E")),
]

EDGES = [
    scenario("post-below-file-104", put(f"{K}/f", "value=1"), post(f"{K}/f/q", "value=2")),
    scenario(
        "multipart-body-ignored",
        req("PUT", f"{K}/a", "value=x", (("Content-Type", "multipart/form-data; boundary=b"),)),
    ),
    scenario("form-body-bad-escape-210", put(f"{K}/a", "value=%zz")),
    scenario("query-bad-escape-210", put(f"{K}/a?value=%zz"), get(f"{K}/a?recursive=%")),
    scenario("plus-in-path-is-literal", put(f"{K}/a+b", "value=1"), get(f"{K}?sorted=true")),
    scenario(
        "expect-100-continue",
        req("PUT", f"{K}/e", "value=" + "c" * 2048, (*FORM, ("Expect", "100-continue"))),
        get(f"{K}/e?quorum=true"),
    ),
    scenario("large-value-1mib", put(f"{K}/big", "value=" + "v" * (1024 * 1024))),
    scenario("value-2mib-accepted", put(f"{K}/big", "value=" + "v" * (2 * 1024 * 1024))),
    scenario(
        "many-children-listing",
        Bulk(60, "PUT", f"{K}/many/k{{i}}", "value={i}"),
        get(f"{K}/many"),
        get(f"{K}/many?sorted=true"),
    ),
]

MORE = [
    scenario("update-dir-missing-100", put(f"{K}/d?dir=true&prevExist=true")),
    scenario(
        "create-dir-existing-105", put(f"{K}/d?dir=true"), put(f"{K}/d?dir=true&prevExist=false")
    ),
    scenario("post-dir-creates-parents", post(f"{K}/p/q/r?dir=true"), get(f"{K}/p?recursive=true")),
    scenario(
        "delete-dir-recursive-on-file",
        put(f"{K}/f", "value=1"),
        delete(f"{K}/f?dir=true&recursive=true"),
    ),
    scenario(
        "cas-prev-index-on-dir-102", put(f"{K}/d?dir=true"), put(f"{K}/d?prevIndex=4", "value=1")
    ),
    scenario("cad-prev-index-on-dir-102", put(f"{K}/d?dir=true"), delete(f"{K}/d?prevIndex=4")),
    scenario("json-escape-quote-in-key", put(f"{K}/q%22u%5Co", "value=1"), get(f"{K}/q%22u%5Co")),
    scenario(
        "json-escape-in-cas-cause",
        put(f"{K}/c", "value=%3Cold%3E"),
        put(f"{K}/c?prevValue=%26new", "value=x"),
    ),
    scenario("lowercase-method-405", req("get", f"{K}/a"), req("put", f"{K}/a", "value=1")),
    scenario("empty-first-duplicate-param", put(f"{K}/a?dir=&dir=true")),
    scenario(
        "accept-encoding-gzip-ignored",
        put(f"{K}/a", "value=" + "z" * 300),
        get(f"{K}/a", (("Accept-Encoding", "gzip"),)),
    ),
    scenario(
        "refresh-with-prev-exist-false",
        put(f"{K}/r?refresh=true&prevExist=false&ttl=5"),
        put(f"{K}/r?refresh=true&prevExist=false&ttl=5"),
    ),
    scenario("refresh-on-post", post(f"{K}/q?refresh=true&ttl=5")),
    scenario("health-exclude-param", get("/health?exclude=NOSPACE")),
    scenario(
        "members-leader-bad-methods",
        req("POST", "/v2/members/leader", "{}", JSON),
        delete("/v2/members/leader"),
    ),
]

KEEPALIVE = [
    scenario(
        "keepalive-mixed-sequence",
        keepalive(
            put(f"{K}/a", "value=1"),
            get(f"{K}/a"),
            get(f"{K}/missing"),
            head(f"{K}/a"),
            delete(f"{K}/a"),
            get("/version"),
            get("/v2/members"),
            get("/nope"),
            get(K),
        ),
    ),
    scenario(
        "keepalive-after-unread-bodies",
        keepalive(
            req("PATCH", f"{K}/a", "value=1"),
            req("POST", "/v2/machines", "x=1"),
            req("PUT", f"{K}/a?ttl=x", "value=1"),
            req("PUT", f"{K}/b", "value=2", (("Content-Type", "text/plain"),)),
            get(f"{K}/b"),
        ),
    ),
    scenario(
        "keepalive-after-redirect-and-bad-request",
        keepalive(get(f"{K}//a"), get(f"{K}/./b?x=1"), get(K)),
        keepalive(get(f"{K}/a%zz"), get(K)),
    ),
]

KEYS_SCENARIOS: list[Scenario] = STORE + PARAMS + PATHS + ESCAPING + EDGES + MORE + KEEPALIVE
