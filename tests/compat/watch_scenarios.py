"""Scenarios for watches, TTL expiry, refresh and hidden keys (spec §1.6-§1.9, §7).

Indexes are absolute: on a fresh member the first user write is index 4. Waits are bounded by
each watch's timeout; a watch that is expected *not* to fire is always followed by a write that
does fire it, so "not notified" is proven by which event arrives, never by a silent timeout.
"""

from __future__ import annotations

from tests.compat.dsl import (
    Bulk,
    Scenario,
    delete,
    get,
    post,
    put,
    scenario,
    stream,
    wait,
    watch,
)

K = "/v2/keys"

WATCH = [
    scenario(
        "watch-future-set", watch("w", f"{K}/a?wait=true"), put(f"{K}/a", "value=1"), wait("w")
    ),
    scenario(
        "watch-wait-index-zero-is-next",
        put(f"{K}/a", "value=1"),
        watch("w", f"{K}/a?wait=true&waitIndex=0"),
        put(f"{K}/a", "value=2"),
        wait("w"),
    ),
    scenario(
        "watch-history-first-match",
        put(f"{K}/a", "value=1"),
        put(f"{K}/b", "value=2"),
        put(f"{K}/a", "value=3"),
        get(f"{K}/a?wait=true&waitIndex=4"),
        get(f"{K}/a?wait=true&waitIndex=5"),
    ),
    scenario(
        "watch-wait-index-in-future",
        put(f"{K}/a", "value=1"),
        watch("w", f"{K}/a?wait=true&waitIndex=6"),
        put(f"{K}/a", "value=2"),
        put(f"{K}/a", "value=3"),
        wait("w"),
    ),
    scenario(
        "watch-recursive-child",
        put(f"{K}/d?dir=true"),
        watch("w", f"{K}/d?wait=true&recursive=true"),
        put(f"{K}/d/x/y", "value=1"),
        wait("w"),
    ),
    scenario(
        "watch-non-recursive-skips-child",
        put(f"{K}/d?dir=true"),
        watch("w", f"{K}/d?wait=true"),
        put(f"{K}/d/x", "value=1"),
        put(f"{K}/d?dir=true&prevExist=true&ttl=100"),
        wait("w"),
    ),
    scenario(
        "watch-root-recursive",
        watch("w", f"{K}?wait=true&recursive=true"),
        put(f"{K}/deep/er/key", "value=1"),
        wait("w"),
    ),
    scenario(
        "watch-missing-key-then-create",
        watch("w", f"{K}/later/key?wait=true"),
        put(f"{K}/later/key?prevExist=false", "value=1"),
        wait("w"),
    ),
    scenario(
        "watch-sees-delete",
        put(f"{K}/a", "value=1"),
        watch("w", f"{K}/a?wait=true"),
        delete(f"{K}/a"),
        wait("w"),
    ),
    scenario(
        "watch-sees-cas-and-cad",
        put(f"{K}/a", "value=1"),
        watch("w1", f"{K}/a?wait=true"),
        put(f"{K}/a?prevValue=1", "value=2"),
        wait("w1"),
        watch("w2", f"{K}/a?wait=true"),
        delete(f"{K}/a?prevValue=2"),
        wait("w2"),
    ),
    scenario(
        "watch-sees-update-and-create",
        watch("w1", f"{K}/a?wait=true"),
        put(f"{K}/a?prevExist=false", "value=1"),
        wait("w1"),
        watch("w2", f"{K}/a?wait=true"),
        put(f"{K}/a?prevExist=true", "value=2"),
        wait("w2"),
    ),
    scenario(
        "watch-in-order-post",
        put(f"{K}/q?dir=true"),
        watch("w", f"{K}/q?wait=true&recursive=true"),
        post(f"{K}/q", "value=job"),
        wait("w"),
    ),
    scenario(
        "watch-dir-delete-reaches-descendants",
        put(f"{K}/d/e/f", "value=1"),
        watch("w1", f"{K}/d/e/f?wait=true"),
        watch("w2", f"{K}/d/e?wait=true"),
        delete(f"{K}/d?recursive=true"),
        wait("w1"),
        wait("w2"),
    ),
    scenario(
        "watch-ancestor-delete-missing-descendant",
        put(f"{K}/d/x", "value=1"),
        watch("w", f"{K}/d/ghost?wait=true"),
        delete(f"{K}/d?recursive=true"),
        put(f"{K}/d/ghost", "value=1"),
        wait("w"),
    ),
    scenario(
        "watch-history-dir-delete-string-prefix",
        put(f"{K}/w?dir=true"),
        delete(f"{K}/w?dir=true"),
        get(f"{K}/wx?wait=true&waitIndex=4"),
    ),
    scenario(
        "watch-history-recursive-prefix-boundary",
        put(f"{K}/ab", "value=1"),
        put(f"{K}/a/b", "value=2"),
        get(f"{K}/a?wait=true&recursive=true&waitIndex=4"),
        watch("w", f"{K}/a?wait=true&waitIndex=4"),
        put(f"{K}/a?dir=true&prevExist=true"),
        wait("w"),
    ),
    scenario(
        "watch-header-index-at-registration",
        put(f"{K}/a", "value=1"),
        watch("w", f"{K}/a?wait=true&waitIndex=9"),
        Bulk(5, "PUT", f"{K}/a", "value={i}"),
        wait("w"),
    ),
    scenario(
        "watch-failed-write-not-an-event",
        put(f"{K}/a", "value=1"),
        watch("w", f"{K}/a?wait=true"),
        put(f"{K}/a?prevValue=x", "value=2"),
        put(f"{K}/a?prevExist=false", "value=2"),
        put(f"{K}/a", "value=3"),
        wait("w"),
    ),
    scenario(
        "watch-stream-events",
        stream("s", f"{K}/a?wait=true&stream=true", lines=3),
        put(f"{K}/a", "value=1"),
        put(f"{K}/a", "value=2"),
        put(f"{K}/a", "value=3"),
        wait("s"),
    ),
    scenario(
        "watch-stream-recursive",
        stream("s", f"{K}/d?wait=true&stream=true&recursive=true", lines=2),
        put(f"{K}/d/a", "value=1"),
        put(f"{K}/x", "value=2"),
        put(f"{K}/d/b/c", "value=3"),
        wait("s"),
    ),
    scenario(
        "watch-stream-delete-twice",
        put(f"{K}/a", "value=1"),
        stream("s", f"{K}/a?wait=true&stream=true", lines=2),
        delete(f"{K}/a"),
        wait("s"),
    ),
    scenario(
        "watch-stream-dir-delete-twice",
        put(f"{K}/d/x", "value=1"),
        stream("s", f"{K}/d?wait=true&stream=true", lines=2),
        delete(f"{K}/d?recursive=true"),
        wait("s"),
    ),
    scenario(
        "watch-stream-from-history",
        put(f"{K}/a", "value=1"),
        put(f"{K}/a", "value=2"),
        stream("s", f"{K}/a?wait=true&stream=true&waitIndex=4", lines=3, timeout=1.5),
        put(f"{K}/a", "value=3"),
        wait("s"),
    ),
    scenario(
        "watch-history-cleared-401",
        Bulk(1002, "PUT", f"{K}/k", "value={i}"),
        get(f"{K}/k?wait=true&waitIndex=1"),
        get(f"{K}/k?wait=true&waitIndex=8"),
        get(f"{K}/k?wait=true&waitIndex=1005"),
    ),
    scenario(
        "watch-stats-watchers-count",
        watch("w", f"{K}/a?wait=true"),
        get("/v2/stats/store"),
        put(f"{K}/a", "value=1"),
        wait("w"),
    ),
]

WATCH += [
    scenario(
        "watch-root-history-skips-internal-events",
        put(f"{K}/a", "value=1"),
        get(f"{K}?wait=true&recursive=true&waitIndex=1"),
    ),
    scenario(
        "watch-stream-many-events-in-order",
        stream("s", f"{K}/m?wait=true&stream=true&recursive=true", lines=40, timeout=10.0),
        Bulk(40, "PUT", f"{K}/m/k{{i}}", "value={i}"),
        wait("s"),
    ),
    scenario(
        "watch-recursive-sees-dir-expiry",
        put(f"{K}/d?dir=true&ttl=1"),
        put(f"{K}/d/c", "value=1"),
        watch("w", f"{K}/d?wait=true&recursive=true&waitIndex=6", timeout=6.0),
        wait("w"),
    ),
    scenario(
        "watch-recursive-history-sees-delete-of-child-dir",
        put(f"{K}/d/e/f", "value=1"),
        delete(f"{K}/d/e?recursive=true"),
        get(f"{K}/d?wait=true&recursive=true&waitIndex=5"),
    ),
]

WATCH += [
    scenario(
        "watch-done-releases-watcher",
        watch("w", f"{K}/a?wait=true"),
        put(f"{K}/a", "value=1"),
        wait("w"),
        get("/v2/stats/store"),
    ),
    scenario(
        "watch-recursive-on-file",
        put(f"{K}/f", "value=1"),
        watch("w", f"{K}/f?wait=true&recursive=true"),
        put(f"{K}/f", "value=2"),
        wait("w"),
    ),
    scenario(
        "watch-in-order-key-expiry",
        post(f"{K}/q?ttl=1", "value=job"),
        watch("w", f"{K}/q?wait=true&recursive=true&waitIndex=5", timeout=6.0),
        wait("w"),
        get(f"{K}/q"),
    ),
    scenario(
        "watch-two-watchers-same-key",
        watch("w1", f"{K}/a?wait=true"),
        watch("w2", f"{K}/a?wait=true&recursive=true"),
        put(f"{K}/a", "value=1"),
        wait("w1"),
        wait("w2"),
    ),
]

HIDDEN = [
    scenario(
        "hidden-omitted-from-listing",
        put(f"{K}/_h", "value=1"),
        put(f"{K}/v", "value=2"),
        put(f"{K}/d/_x", "value=3"),
        put(f"{K}/_hd/y", "value=4"),
        get(f"{K}?recursive=true&sorted=true"),
        get(f"{K}/d"),
    ),
    scenario(
        "hidden-readable-by-path",
        put(f"{K}/_h", "value=1"),
        get(f"{K}/_h"),
        put(f"{K}/_h?prevValue=1", "value=2"),
        delete(f"{K}/_h"),
    ),
    scenario(
        "hidden-not-live-notified",
        put(f"{K}/d?dir=true"),
        watch("w", f"{K}/d?wait=true&recursive=true"),
        put(f"{K}/d/_x", "value=1"),
        put(f"{K}/d/_y/z", "value=2"),
        put(f"{K}/d/v", "value=3"),
        wait("w"),
    ),
    scenario(
        "hidden-exact-watch-notified",
        watch("w", f"{K}/d/_x?wait=true"),
        put(f"{K}/d/_x", "value=1"),
        wait("w"),
    ),
    scenario(
        "hidden-history-scan-returns-it",
        put(f"{K}/d/_x", "value=1"),
        put(f"{K}/d/v", "value=2"),
        get(f"{K}/d?wait=true&recursive=true&waitIndex=4"),
    ),
]

TTL = [
    scenario(
        "ttl-set-shows-ttl-and-expiration",
        put(f"{K}/t?ttl=100", "value=1"),
        get(f"{K}/t"),
        get(f"{K}?recursive=true"),
    ),
    scenario(
        "ttl-expires-event-and-index-gap",
        put(f"{K}/t?ttl=1", "value=1"),
        watch("w", f"{K}/t?wait=true&waitIndex=5", timeout=6.0),
        wait("w"),
        get(f"{K}/t"),
        put(f"{K}/n", "value=2"),
    ),
    scenario(
        "ttl-zero-expires-now",
        put(f"{K}/t?ttl=0", "value=1"),
        watch("w", f"{K}/t?wait=true&waitIndex=5", timeout=6.0),
        wait("w"),
        get(f"{K}/t"),
    ),
    scenario(
        "ttl-dir-expiry-removes-children",
        put(f"{K}/d?dir=true&ttl=1"),
        put(f"{K}/d/child", "value=1"),
        watch("w", f"{K}/d/child?wait=true&waitIndex=6", timeout=6.0),
        wait("w"),
        get(f"{K}/d"),
        get(f"{K}/d/child"),
    ),
    scenario(
        "ttl-set-without-ttl-clears",
        put(f"{K}/t?ttl=100", "value=1"),
        put(f"{K}/t", "value=2"),
        get(f"{K}/t"),
    ),
    scenario(
        "ttl-update-without-ttl-clears",
        put(f"{K}/t?ttl=100", "value=1"),
        put(f"{K}/t?prevExist=true", "value=2"),
        get(f"{K}/t"),
    ),
    scenario(
        "ttl-dir-renewal-update",
        put(f"{K}/d?dir=true&ttl=100"),
        watch("w", f"{K}/d?wait=true"),
        put(f"{K}/d?dir=true&prevExist=true", "ttl=200"),
        wait("w"),
        get(f"{K}/d"),
        put(f"{K}/d?dir=true&prevExist=true"),
        get(f"{K}/d"),
    ),
    scenario("ttl-in-body", put(f"{K}/t", "value=1&ttl=100"), get(f"{K}/t")),
    scenario(
        "ttl-cas-sets-ttl",
        put(f"{K}/t", "value=1"),
        put(f"{K}/t?prevValue=1", "value=2&ttl=100"),
        get(f"{K}/t"),
    ),
    scenario(
        "refresh-plain-put-is-set",
        put(f"{K}/r?ttl=100", "value=keep"),
        put(f"{K}/r?refresh=true&ttl=200"),
        get(f"{K}/r"),
    ),
    scenario(
        "refresh-prev-exist-is-update",
        put(f"{K}/r?ttl=100", "value=keep"),
        put(f"{K}/r?refresh=true&prevExist=true", "ttl=200"),
        get(f"{K}/r"),
    ),
    scenario(
        "refresh-prev-value-is-cas",
        put(f"{K}/r?ttl=100", "value=keep"),
        put(f"{K}/r?refresh=true&prevValue=keep&ttl=200"),
        put(f"{K}/r?refresh=true&prevValue=nope&ttl=200"),
    ),
    scenario("refresh-missing-100", put(f"{K}/r?refresh=true&ttl=5")),
    scenario(
        "refresh-dir-plain-102", put(f"{K}/d?dir=true&ttl=100"), put(f"{K}/d?refresh=true&ttl=5")
    ),
    scenario(
        "refresh-dir-update",
        put(f"{K}/d?dir=true&ttl=100"),
        put(f"{K}/d?dir=true&prevExist=true&refresh=true&ttl=200"),
        get(f"{K}/d"),
    ),
    scenario(
        "refresh-empty-value-allowed",
        put(f"{K}/r?ttl=100", "value=keep"),
        put(f"{K}/r?refresh=true&ttl=50", "value="),
    ),
    scenario(
        "refresh-not-live-notified",
        put(f"{K}/r?ttl=100", "value=1"),
        watch("w", f"{K}/r?wait=true"),
        put(f"{K}/r?refresh=true&ttl=200"),
        put(f"{K}/r", "value=2"),
        wait("w"),
    ),
    scenario(
        "refresh-skipped-in-history",
        put(f"{K}/r?ttl=100", "value=1"),
        put(f"{K}/r?refresh=true&ttl=200"),
        watch("w", f"{K}/r?wait=true&waitIndex=5"),
        put(f"{K}/r", "value=2"),
        wait("w"),
    ),
    scenario(
        "refresh-no-value-on-success",
        put(f"{K}/r?ttl=100", "value=1"),
        put(f"{K}/r?refresh=true&ttl=200&noValueOnSuccess=true"),
    ),
]

WATCH_SCENARIOS: list[Scenario] = WATCH + HIDDEN + TTL
