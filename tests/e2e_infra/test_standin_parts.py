"""Small parts of the kubelet stand-in: image names, quantities, addresses, pod phase."""

from __future__ import annotations

import decimal
import ipaddress
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from e2e.kubelet import addresses, pod, provisioner, sandbox


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("ghcr.io/walrus-k8s/walrus-node:0.1.0", "walrus-node"),
        ("walrus-node", "walrus-node"),
        ("localhost:5000/walrus-node@sha256:abcd", "walrus-node"),
        ("localhost:5000/x/walrus-node:dev@sha256:abcd", "walrus-node"),
        ("docker.io/library/nginx:1.27", "nginx"),
    ],
)
def test_repository_name(image: str, name: str) -> None:
    assert pod.repository_name(image) == name


def test_pod_with_a_foreign_image_is_refused_with_its_name() -> None:
    spec = {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}
    with pytest.raises(pod.UnsupportedImage, match=r"'nginx:1\.27'"):
        pod.check_images(spec, ("walrus-node",))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1Gi", 2**30),
        ("500Mi", 500 * 2**20),
        ("2G", 2 * 10**9),
        ("1.5Ki", 1536),
        ("1e3", 1000),
        ("250m", decimal.Decimal("0.25")),
        ("7", 7),
    ],
)
def test_quantity(text: str, value: decimal.Decimal | int) -> None:
    assert provisioner.quantity(text) == value


@pytest.mark.parametrize("text", ["", "Gi", "1Qi", "1 Gi"])
def test_bad_quantity_is_refused(text: str) -> None:
    with pytest.raises(provisioner.QuantityError):
        provisioner.quantity(text)


def test_addresses_are_stable_distinct_and_off_127_0(tmp_path: Path) -> None:
    book = addresses.AddressBook(tmp_path / "addresses.json")
    ips = {book.address("ns", f"walrus-{i}") for i in range(300)}
    assert len(ips) == 300
    for ip in ips:
        assert ipaddress.ip_address(ip) in ipaddress.ip_network("127.0.0.0/8")
        assert not ip.startswith("127.0.")
    again = addresses.AddressBook(tmp_path / "addresses.json")
    assert again.address("ns", "walrus-7") == book.address("ns", "walrus-7")


VOLUMES = {"/etc/walrus": "/vol/a", "/etc/walrus/config": "/vol/b", "/var/lib/walrus": "/vol/c"}


@given(st.lists(st.sampled_from(sorted(VOLUMES)), min_size=1, unique=True))
def test_rewrite_maps_the_longest_mount_path(targets: list[str]) -> None:
    mounts = [sandbox.Mount(source=VOLUMES[t], target=t, readOnly=False) for t in targets]
    spec = sandbox.Spec(
        argv=[
            "walrus-node",
            "--config",
            "/etc/walrus/config/node.yaml",
            "--data=/var/lib/walrus",
            "cat /var/lib/walrus/x /var/lib/walrus2/y",
        ],
        env={"DATA": "/var/lib/walrus/db"},
        cwd="/",
        mounts=mounts,
        image=[],
    )
    rewritten = sandbox.rewrite(spec)
    config = rewritten["argv"][2]
    if "/etc/walrus/config" in targets:
        assert config == "/vol/b/node.yaml"
    elif "/etc/walrus" in targets:
        assert config == "/vol/a/config/node.yaml"
    else:
        assert config == "/etc/walrus/config/node.yaml"
    if "/var/lib/walrus" in targets:
        assert rewritten["argv"][3] == "--data=/vol/c"
        assert rewritten["argv"][4] == "cat /vol/c/x /var/lib/walrus2/y"
        assert rewritten["env"]["DATA"] == "/vol/c/db"
    assert rewritten["mounts"] == []


def test_a_volume_over_a_parent_hides_neither_other_volumes_nor_the_image(
    tmp_path: Path,
) -> None:
    """An emptyDir at /tmp-like path P must not hide volume sources or image files under P
    (the stand-in keeps its state, and CI its checkout, under /tmp)."""
    assert sandbox.namespaces_available(), "the e2e tier needs root for mount namespaces"
    parent = tmp_path / "shadowed"
    scratch = tmp_path / "scratch"  # the volume mounted over `parent`
    config = parent / "state" / "config"  # a volume source under `parent`
    image = parent / "checkout"  # image files under `parent`
    for directory in (scratch, config, image):
        directory.mkdir(parents=True)
    (config / "node.yaml").write_text("config\n")
    (image / "tool.txt").write_text("image\n")
    (scratch / "mark").write_text("scratch\n")
    inside = tmp_path / "etc-walrus"
    spec = sandbox.Spec(
        argv=["sh", "-c", f"cat {parent}/mark {inside}/node.yaml {image}/tool.txt"],
        env={"PATH": "/usr/bin:/bin"},
        cwd="/",
        mounts=[
            sandbox.Mount(source=str(config), target=str(inside), readOnly=True),
            sandbox.Mount(source=str(scratch), target=str(parent), readOnly=False),
        ],
        image=[str(image)],
    )
    spec_path = tmp_path / "spec.json"
    sandbox.write_spec(spec_path, spec)
    done = subprocess.run(
        sandbox.launch_argv(spec_path, namespace=True),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "scratch\nconfig\nimage\n"
    # Nothing leaked into the host's view.
    assert not (parent / "mark").exists()
