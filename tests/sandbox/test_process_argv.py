"""The argv builders as pure functions, against a fixed host layout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from toolkernel_sandbox.process import (
    HostLayout,
    ProcessPolicy,
    bwrap_argv,
    cgroup_join_argv,
    firejail_argv,
    inner_command,
    nsjail_argv,
)

ROOT_HOST = HostLayout(
    system_dirs=(Path("/usr"),),
    system_links=((Path("/bin"), "usr/bin"), (Path("/lib"), "usr/lib")),
    etc_entries=(Path("/etc/passwd"), Path("/etc/ssl")),
    top_level=tuple(
        Path(f"/{name}")
        for name in ("bin", "etc", "home", "lib", "proc", "root", "run", "tmp", "usr", "work")
    ),
    run_entries=(Path("/run/firejail"), Path("/run/docker.sock"), Path("/run/user")),
    privileged=True,
)
USER_HOST = HostLayout(**{**ROOT_HOST.__dict__, "privileged": False})
COMMAND = ["python3", "-c", "print(1)"]
BUILDERS = [bwrap_argv, firejail_argv, nsjail_argv]


def pairs(argv: list[str], flag: str) -> list[str]:
    """The values that follow each occurrence of `flag`."""
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


def triples(argv: list[str], flag: str) -> list[tuple[str, str]]:
    return [(argv[i + 1], argv[i + 2]) for i, arg in enumerate(argv) if arg == flag]


def test_bwrap_isolates_the_network_unless_network_is_true() -> None:
    closed = bwrap_argv(ProcessPolicy(), COMMAND, layout=ROOT_HOST)
    opened = bwrap_argv(ProcessPolicy(network=True), COMMAND, layout=ROOT_HOST)
    assert "--unshare-net" in closed
    assert "--unshare-net" not in opened
    assert "--share-net" not in closed


def test_nsjail_enables_the_network_only_when_network_is_true() -> None:
    closed = nsjail_argv(ProcessPolicy(), COMMAND, layout=ROOT_HOST)
    opened = nsjail_argv(ProcessPolicy(network=True), COMMAND, layout=ROOT_HOST)
    # nsjail isolates by default; this flag turns networking ON.
    assert "--disable_clone_newnet" not in closed
    assert "-N" not in closed
    assert "--disable_clone_newnet" in opened


def test_firejail_drops_the_network_unless_network_is_true() -> None:
    assert "--net=none" in firejail_argv(ProcessPolicy(), COMMAND, layout=ROOT_HOST)
    opened = firejail_argv(ProcessPolicy(network=True), COMMAND, layout=ROOT_HOST)
    assert not [arg for arg in opened if arg.startswith("--net")]


@pytest.mark.parametrize("builder", BUILDERS)
def test_no_environment_value_appears_in_the_argv(builder: Callable[..., list[str]]) -> None:
    policy = ProcessPolicy(env={"API_KEY": "s3cret-value"})
    argv = builder(policy, COMMAND, layout=ROOT_HOST)
    assert not [arg for arg in argv if "s3cret-value" in arg]


@pytest.mark.parametrize("builder", BUILDERS)
def test_the_command_comes_last_and_unchanged(builder: Callable[..., list[str]]) -> None:
    argv = builder(ProcessPolicy(), COMMAND, layout=ROOT_HOST)
    assert argv[-len(COMMAND) :] == COMMAND


def test_bwrap_shows_system_dirs_and_a_minimal_etc_read_only() -> None:
    argv = bwrap_argv(ProcessPolicy(), COMMAND, layout=ROOT_HOST)
    assert triples(argv, "--ro-bind") == [
        ("/usr", "/usr"),
        ("/etc/passwd", "/etc/passwd"),
        ("/etc/ssl", "/etc/ssl"),
    ]
    assert triples(argv, "--symlink") == [("usr/bin", "/bin"), ("usr/lib", "/lib")]
    assert pairs(argv, "--dir") == ["/etc"]  # 0755, where bwrap would make it 0700
    bound = {source for source, _ in triples(argv, "--ro-bind") + triples(argv, "--bind")}
    assert not bound & {"/", "/etc", "/root", "/home"}
    assert "/etc/shadow" not in argv
    assert pairs(argv, "--tmpfs") == ["/tmp"]
    assert pairs(argv, "--size") == [str(64 * 2**20)]  # the default tmp_bytes
    assert pairs(argv, "--bind") == []


def test_bwrap_binds_policy_paths_at_the_same_path() -> None:
    policy = ProcessPolicy(
        read_only=(Path("/work/venv"),), writable=(Path("/work/out"),), tool_dir=Path("/work/t")
    )
    argv = bwrap_argv(policy, COMMAND, layout=ROOT_HOST)
    assert ("/work/venv", "/work/venv") in triples(argv, "--ro-bind")
    assert ("/work/t", "/work/t") in triples(argv, "--ro-bind")
    assert triples(argv, "--bind") == [("/work/out", "/work/out")]
    assert pairs(argv, "--chdir") == ["/work/t"]
    # Parents made by `--dir` are 0755: uid 65534 must be able to walk through them.
    assert pairs(argv, "--dir") == ["/etc", "/work", "/work", "/work"]


def test_bwrap_starts_in_tmp_or_the_given_cwd() -> None:
    assert pairs(bwrap_argv(ProcessPolicy(), COMMAND, layout=ROOT_HOST), "--chdir") == ["/tmp"]
    argv = bwrap_argv(ProcessPolicy(), COMMAND, cwd=Path("/tmp/x"), layout=ROOT_HOST)
    assert pairs(argv, "--chdir") == ["/tmp/x"]


def test_the_command_sets_every_rlimit_before_it_runs() -> None:
    policy = ProcessPolicy(
        memory_bytes=2**28, cpu_s=5, file_size_bytes=2**20, open_files=64, processes=9
    )
    inner = inner_command(policy, COMMAND, ROOT_HOST)
    assert inner[0] == "/usr/bin/prlimit"
    assert inner[1 : inner.index("--")] == [
        f"--as={2**28}:{2**28}",
        "--cpu=5:6",  # SIGXCPU at 5 s, SIGKILL at 6 s
        f"--fsize={2**20}:{2**20}",
        "--nofile=64:64",
        "--nproc=9:9",
    ]


def test_as_root_the_command_drops_to_nobody_without_capabilities() -> None:
    inner = inner_command(ProcessPolicy(), COMMAND, ROOT_HOST)
    drop = inner[inner.index("/usr/bin/setpriv") :]
    assert {"--reuid=65534", "--regid=65534", "--no-new-privs", "--bounding-set=-all"} <= set(drop)
    assert drop[-len(COMMAND) - 1 :] == ["--", *COMMAND]
    assert "--unshare-user" not in bwrap_argv(ProcessPolicy(), COMMAND, layout=ROOT_HOST)


def test_as_a_user_bwrap_maps_nobody_in_a_user_namespace() -> None:
    argv = bwrap_argv(ProcessPolicy(processes=9), COMMAND, layout=USER_HOST)
    assert "--unshare-user" in argv
    assert pairs(argv, "--uid") == ["65534"]
    assert "/usr/bin/setpriv" not in argv
    assert "--nproc=9:9" in argv


def test_firejail_hides_every_non_system_top_level_dir() -> None:
    argv = firejail_argv(ProcessPolicy(), COMMAND, layout=ROOT_HOST)
    blacklisted = {a.removeprefix("--blacklist=") for a in argv if a.startswith("--blacklist=")}
    assert blacklisted == {"/home", "/root", "/work", "/run/docker.sock", "/run/user"}
    assert "--private-tmp" in argv
    whitelisted = [a.removeprefix("--whitelist=") for a in argv if a.startswith("--whitelist=")]
    assert whitelisted == ["/etc/passwd", "/etc/ssl"]


def test_firejail_shows_only_the_policy_paths_inside_a_hidden_dir() -> None:
    policy = ProcessPolicy(read_only=(Path("/work/venv"),), writable=(Path("/tmp/out"),))
    argv = firejail_argv(policy, COMMAND, layout=ROOT_HOST)
    assert "--whitelist=/work/venv" in argv
    assert "--read-only=/work/venv" in argv
    assert "--whitelist=/tmp/out" in argv
    assert "--blacklist=/work" not in argv
    assert "--private-tmp" not in argv  # the whitelist already makes /tmp a private tmpfs


def test_firejail_removes_the_variables_it_adds() -> None:
    argv = firejail_argv(ProcessPolicy(), COMMAND, layout=ROOT_HOST)
    env_at = argv.index("/usr/bin/env")
    unset = pairs(argv[env_at:], "-u")
    assert {"container", "SHELL", "QT_X11_NO_MITSHM", "FIREJAIL_QUIET"} <= set(unset)


def test_nsjail_sets_every_limit_explicitly() -> None:
    policy = ProcessPolicy(
        memory_bytes=300 * 2**20 + 1, cpu_s=7, file_size_bytes=2**20, open_files=99, processes=5
    )
    argv = nsjail_argv(policy, COMMAND, layout=ROOT_HOST)
    assert pairs(argv, "--rlimit_as") == ["301"]
    assert pairs(argv, "--rlimit_cpu") == ["7"]
    assert pairs(argv, "--rlimit_fsize") == ["1"]
    assert pairs(argv, "--rlimit_nofile") == ["99"]
    assert pairs(argv, "--rlimit_nproc") == ["5"]
    assert pairs(argv, "--user") == ["65534:65534:1"]
    assert sorted(pairs(argv, "--env")) == ["HOME", "LANG", "PATH", "TMPDIR"]
    assert pairs(argv, "--tmpfsmount") == ["/tmp"]


def test_bwrap_sizes_its_tmp_with_the_policy_tmp_bytes() -> None:
    argv = bwrap_argv(ProcessPolicy(tmp_bytes=5 * 2**20), COMMAND, layout=ROOT_HOST)
    at = argv.index("--tmpfs")
    # `--size` (and `--perms`) bind to the next `--tmpfs`, so they must come just before.
    assert argv[at - 4 : at + 2] == ["--perms", "1777", "--size", str(5 * 2**20), "--tmpfs", "/tmp"]


def test_nsjail_sizes_its_tmp_with_the_policy_tmp_bytes() -> None:
    argv = nsjail_argv(ProcessPolicy(tmp_bytes=3 * 2**20), COMMAND, layout=ROOT_HOST)
    assert pairs(argv, "--tmpfs_size") == [str(3 * 2**20)]
    assert argv.index("--tmpfs_size") < argv.index("--tmpfsmount")


def test_firejail_has_no_tmp_size_flag_to_set() -> None:
    argv = firejail_argv(ProcessPolicy(tmp_bytes=2**20), COMMAND, layout=ROOT_HOST)
    assert "--private-tmp" in argv
    assert not [arg for arg in argv if str(2**20) in arg]  # the cgroup bounds it instead


def test_the_cgroup_join_prefix_names_each_procs_file_then_the_argv() -> None:
    files = [Path("/cg/memory/run/cgroup.procs"), Path("/cg/pids/run/cgroup.procs")]
    argv = cgroup_join_argv(files, ["bwrap", "--", *COMMAND])
    assert argv[:2] == ["/bin/sh", "-c"]
    assert argv[3:] == ["sh", *map(str, files), "--", "bwrap", "--", *COMMAND]
    assert "exec" in argv[2]
    assert "exit 125" in argv[2]
