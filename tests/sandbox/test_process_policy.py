"""ProcessPolicy validation and backend choice: pure, nothing is started but probes."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from toolkernel_sandbox import SandboxUnavailable, process
from toolkernel_sandbox.process import (
    IDENTITY_RANGE,
    ProcessPolicy,
    identity_for,
    pick_backend,
    sandbox_env,
)


def test_exported_members_are_pinned() -> None:
    assert set(process.__all__) == {
        "BACKENDS",
        "IDENTITY_RANGE",
        "SANDBOX_GID",
        "SANDBOX_UID",
        "CgroupSupport",
        "Completed",
        "Exited",
        "HostLayout",
        "Launch",
        "ProcessPolicy",
        "SandboxedProcess",
        "UnsandboxedWarning",
        "bwrap_argv",
        "cgroup_join_argv",
        "cgroup_support",
        "find_cgroups",
        "firejail_argv",
        "host_layout",
        "identity_for",
        "inner_command",
        "nsjail_argv",
        "pick_backend",
        "prepare",
        "run",
        "run_foreground",
        "sandbox_env",
        "share_writable",
        "signal_of",
        "spawn",
    }


@pytest.mark.parametrize("value", ["false", "False", "true", "", 1, 0, None, "no"])
def test_network_accepts_only_a_real_bool(value: object) -> None:
    with pytest.raises(TypeError, match="network must be the bool True or False"):
        ProcessPolicy(network=value)  # type: ignore[arg-type]


def test_network_true_and_false_are_kept_as_given() -> None:
    assert ProcessPolicy(network=True).network is True
    assert ProcessPolicy().network is False


def test_paths_become_a_tuple_of_absolute_paths() -> None:
    policy = ProcessPolicy(read_only=["/opt/a"], writable=(Path("/srv/b"),))  # type: ignore[arg-type]
    assert policy.read_only == (Path("/opt/a"),)
    assert policy.writable == (Path("/srv/b"),)


def test_relative_paths_are_refused() -> None:
    with pytest.raises(ValueError, match="relative path 'data'"):
        ProcessPolicy(read_only=(Path("data"),))
    with pytest.raises(ValueError, match="tool_dir"):
        ProcessPolicy(tool_dir=Path("tool"))


def test_a_single_path_instead_of_a_tuple_is_refused() -> None:
    with pytest.raises(TypeError, match="tuple of paths"):
        ProcessPolicy(read_only="/opt/a")  # type: ignore[arg-type]


@pytest.mark.parametrize("env", [{"A": 1}, {1: "a"}, ["A=1"]])
def test_env_must_map_str_to_str(env: object) -> None:
    with pytest.raises(TypeError, match="env"):
        ProcessPolicy(env=env)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "A=B", "A\0"])
def test_env_names_must_be_valid(name: str) -> None:
    with pytest.raises(ValueError, match="invalid variable name"):
        ProcessPolicy(env={name: "x"})


def test_env_is_frozen_after_construction() -> None:
    given = {"A": "1"}
    policy = ProcessPolicy(env=given)
    given["B"] = "2"
    assert dict(policy.env) == {"A": "1"}
    with pytest.raises(TypeError):
        policy.env["C"] = "3"  # type: ignore[index]


@pytest.mark.parametrize("field", ["cpu_s", "memory_bytes", "processes", "open_files", "tmp_bytes"])
@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_limits_must_be_positive_whole_numbers(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        ProcessPolicy(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, -1.0, math.inf, math.nan, True])
def test_timeout_must_be_positive_and_finite(value: object) -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        ProcessPolicy(timeout_s=value)  # type: ignore[arg-type]


def test_policies_are_hashable_and_equal_by_value() -> None:
    assert hash(ProcessPolicy(env={"A": "1"})) == hash(ProcessPolicy(env={"A": "1"}))
    assert ProcessPolicy(env={"A": "1"}) == ProcessPolicy(env={"A": "1"})


def test_sandbox_env_is_the_base_plus_declared_variables() -> None:
    env = sandbox_env(ProcessPolicy(env={"API_KEY": "k", "LANG": "en_US.UTF-8"}))
    assert env == {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "API_KEY": "k",
    }


def test_no_backend_on_path_names_the_install_command() -> None:
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap") as caught:
        pick_backend(path="")
    assert "bwrap: not installed" in str(caught.value)


def test_rlimits_is_only_a_fallback_when_allowed() -> None:
    assert pick_backend(path="", allow_rlimits=True) == "rlimits"
    assert pick_backend("rlimits") == "rlimits"


def test_an_unknown_backend_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="bwrap, firejail, nsjail, rlimits"):
        pick_backend("docker")


def test_a_preferred_backend_that_is_missing_is_not_silently_replaced() -> None:
    with pytest.raises(SandboxUnavailable, match="nsjail: not installed"):
        pick_backend("nsjail", path="/nonexistent")


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_bubblewrap_is_the_first_choice() -> None:
    assert pick_backend() == "bwrap"


def test_identities_are_stable_distinct_and_in_their_range() -> None:
    names = [f"local.tool{i}" for i in range(1000)]
    uids = {identity_for(name) for name in names}
    assert len(uids) == len(names)
    assert all(uid in IDENTITY_RANGE for uid in uids)
    assert identity_for("local.tool1") == identity_for("local.tool1")


@pytest.mark.parametrize("uid", [0, -1, 2**31, "1000", True])
def test_a_bad_uid_is_refused(uid: object) -> None:
    with pytest.raises(ValueError, match="uid must be an int between 1 and"):
        ProcessPolicy(uid=uid)  # type: ignore[arg-type]
