"""What the ServiceAccount cache holds and answers, independent of where its contents come from."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator

import pytest

from tests.cluster.support import ROLE, metric, role_arn
from webhook.cluster.serviceaccount_cache import EMPTY_ANNOTATIONS, ServiceAccountCache


@pytest.fixture
def cache() -> ServiceAccountCache:
    return ServiceAccountCache(annotation_prefix="eks.amazonaws.com")


def test_unknown_serviceaccount_is_none(cache: ServiceAccountCache) -> None:
    assert cache.get("default", "nobody") is None


def test_serviceaccount_without_prefixed_annotations_is_empty_not_missing(cache: ServiceAccountCache) -> None:
    cache.put("default", "plain", {"kubectl.kubernetes.io/last-applied-configuration": "{}"})

    assert cache.get("default", "plain") == {}
    assert cache.get("default", "plain") is not None


@pytest.mark.parametrize(
    ("prefix", "annotations", "kept"),
    [
        ("eks.amazonaws.com", {ROLE: "r", "example.com/other": "x"}, {ROLE: "r"}),
        ("eks.amazonaws.com", {"eks.amazonaws.com.evil/role-arn": "r"}, {}),
        ("eks.amazonaws.com", {"eks.amazonaws.comrole-arn": "r"}, {}),
        (
            "irsa.example.com",
            {ROLE: "r", "irsa.example.com/role-arn": "mine"},
            {"irsa.example.com/role-arn": "mine"},
        ),
    ],
)
def test_only_annotations_under_the_prefix_are_kept(
    prefix: str, annotations: dict[str, str], kept: dict[str, str]
) -> None:
    cache = ServiceAccountCache(annotation_prefix=prefix)
    cache.put("default", "app", annotations)

    assert dict(cache.get("default", "app") or {}) == kept


def test_cached_annotations_cannot_be_changed_by_a_reader(cache: ServiceAccountCache) -> None:
    cache.put("default", "app", {ROLE: role_arn("app")})
    annotations = cache.get("default", "app")

    with pytest.raises(TypeError):
        annotations[ROLE] = role_arn("other")  # type: ignore[index]
    assert cache.get("default", "app") == {ROLE: role_arn("app")}


def test_identical_annotations_are_stored_once(cache: ServiceAccountCache) -> None:
    cache.put("team-a", "app", {ROLE: role_arn("shared"), "other.io/x": "1"})
    cache.put("team-b", "app", {ROLE: role_arn("shared")})
    cache.put("team-c", "plain", {})
    cache.put("team-d", "plain", {"other.io/x": "2"})

    assert cache.get("team-a", "app") is cache.get("team-b", "app")
    assert cache.get("team-c", "plain") is cache.get("team-d", "plain") is EMPTY_ANNOTATIONS


def test_put_replaces_and_delete_forgets(cache: ServiceAccountCache) -> None:
    cache.put("default", "app", {ROLE: role_arn("first")})
    cache.put("default", "app", {ROLE: role_arn("second")})
    assert cache.get("default", "app") == {ROLE: role_arn("second")}

    cache.delete("default", "app")
    cache.delete("default", "never-there")
    assert cache.get("default", "app") is None
    assert len(cache) == 0


def test_put_if_absent_keeps_what_the_watch_delivered(cache: ServiceAccountCache) -> None:
    cache.put("default", "app", {ROLE: role_arn("from-watch")})

    kept = cache.put_if_absent("default", "app", {ROLE: role_arn("older-read")})
    added = cache.put_if_absent("default", "new", {ROLE: role_arn("new")})

    assert kept == {ROLE: role_arn("from-watch")}
    assert added == cache.get("default", "new") == {ROLE: role_arn("new")}


def test_a_read_of_a_serviceaccount_the_watch_has_deleted_since_is_used_once_not_cached(
    cache: ServiceAccountCache,
) -> None:
    cache.delete("default", "app", version="1002")

    answered = cache.put_if_absent("default", "app", {ROLE: role_arn("read")}, version="1001")

    assert answered == {ROLE: role_arn("read")}
    assert cache.get("default", "app") is None
    assert len(cache) == 0


def test_a_serviceaccount_created_again_after_its_deletion_is_cached(cache: ServiceAccountCache) -> None:
    cache.delete("default", "app", version="1002")

    cache.put_if_absent("default", "app", {ROLE: role_arn("again")}, version="1003")

    assert cache.get("default", "app") == {ROLE: role_arn("again")}


def test_a_watch_event_older_than_a_read_already_cached_does_not_replace_it(
    cache: ServiceAccountCache,
) -> None:
    cache.put_if_absent("default", "app", {ROLE: role_arn("new")}, version="1002")

    cache.put("default", "app", {ROLE: role_arn("old")}, version="1001")
    assert cache.get("default", "app") == {ROLE: role_arn("new")}

    cache.put("default", "app", {ROLE: role_arn("newer")}, version="1003")
    assert cache.get("default", "app") == {ROLE: role_arn("newer")}


@pytest.mark.parametrize("version", ["", "opaque-token"])
def test_without_comparable_versions_the_watch_wins_as_it_always_did(
    cache: ServiceAccountCache, version: str
) -> None:
    cache.put_if_absent("default", "app", {ROLE: role_arn("read")}, version="1002")

    cache.put("default", "app", {ROLE: role_arn("watch")}, version=version)

    assert cache.get("default", "app") == {ROLE: role_arn("watch")}


def test_replace_all_swaps_the_whole_content_and_marks_synced(cache: ServiceAccountCache) -> None:
    cache.put("default", "stale", {ROLE: role_arn("stale")})
    assert not cache.synced

    cache.replace_all([("default", "app", {ROLE: role_arn("app")}), ("kube-system", "default", {})])

    assert cache.synced
    assert cache.get("default", "stale") is None
    assert cache.get("default", "app") == {ROLE: role_arn("app")}
    assert cache.get("kube-system", "default") == {}
    assert len(cache) == 2


def test_replace_all_that_fails_midway_keeps_the_previous_content(cache: ServiceAccountCache) -> None:
    cache.replace_all([("default", "app", {ROLE: role_arn("app")})])

    def broken_list() -> Iterator[tuple[str, str, dict[str, str]]]:
        yield "default", "other", {}
        raise ConnectionError("the API server went away during the list")

    with pytest.raises(ConnectionError):
        cache.replace_all(broken_list())
    assert cache.get("default", "app") == {ROLE: role_arn("app")}
    assert cache.get("default", "other") is None


def test_a_read_older_than_a_full_list_that_lacked_it_is_used_once_not_cached(
    cache: ServiceAccountCache,
) -> None:
    cache.replace_all([("default", "other", {})], version="1002")

    answered = cache.put_if_absent("default", "app", {ROLE: role_arn("read")}, version="1001")

    assert answered == {ROLE: role_arn("read")}
    assert cache.get("default", "app") is None
    assert len(cache) == 1


def test_a_read_newer_than_the_last_full_list_is_cached(cache: ServiceAccountCache) -> None:
    cache.replace_all([], version="1002")

    cache.put_if_absent("default", "app", {ROLE: role_arn("created-since")}, version="1003")

    assert cache.get("default", "app") == {ROLE: role_arn("created-since")}


@pytest.mark.parametrize("list_version", ["", "opaque-token"])
def test_after_a_list_without_a_comparable_version_every_read_is_cached(
    cache: ServiceAccountCache, list_version: str
) -> None:
    cache.replace_all([], version=list_version)

    cache.put_if_absent("default", "app", {ROLE: role_arn("read")}, version="1")

    assert cache.get("default", "app") == {ROLE: role_arn("read")}


def test_size_is_counted_and_exported(cache: ServiceAccountCache) -> None:
    cache.replace_all([("a", "one", {}), ("a", "two", {}), ("b", "one", {})])
    cache.put("c", "three", {})
    cache.put("c", "three", {ROLE: role_arn("x")})
    cache.delete("a", "one")

    assert len(cache) == 3
    assert metric("serviceaccount_cache_size") == 3


def test_each_miss_is_counted_once(cache: ServiceAccountCache) -> None:
    cache.put("default", "app", {})
    before = metric("serviceaccount_cache_misses_total")

    cache.get("default", "app")
    cache.get("default", "missing")
    cache.get("elsewhere", "app")

    assert metric("serviceaccount_cache_misses_total") - before == 2


def test_churn_of_distinct_roles_does_not_grow_memory_without_bound(cache: ServiceAccountCache) -> None:
    """CI namespaces come and go with roles of their own; what they leave behind must be released."""

    def churn(generations: range) -> int:
        for generation in generations:
            for number in range(500):
                cache.put("ci", f"job-{number}", {ROLE: role_arn(f"job-{generation}-{number}")})
        gc.collect()
        return tracemalloc.get_traced_memory()[0]

    tracemalloc.start()
    try:
        after_few = churn(range(3))
        after_many = churn(range(3, 20))
    finally:
        tracemalloc.stop()

    leaked_per_generation = 500 * 250  # what keeping every superseded role would cost, at the least
    assert after_many - after_few < 4 * leaked_per_generation
    assert len(cache) == 500


def test_deleting_one_serviceaccount_keeps_the_others_of_its_namespace(cache: ServiceAccountCache) -> None:
    cache.put("team", "a", {ROLE: role_arn("a")})
    cache.put("team", "b", {ROLE: role_arn("b")})

    cache.delete("team", "a")

    assert cache.get("team", "a") is None
    assert cache.get("team", "b") == {ROLE: role_arn("b")}
