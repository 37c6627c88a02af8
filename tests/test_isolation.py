"""Two instances on one host: nothing Docker names or publishes may be shared.

Both are rendered with real Copier and read back through `docker compose config`, which is
what Docker would create: container names, named volumes, networks and published ports.
"""

from __future__ import annotations

import pytest
from stack import PORT_TABLE, compose_config, host_ports


def docker_objects(config: dict) -> dict[str, set]:
    return {
        "containers": {service["container_name"] for service in config["services"].values()},
        "volumes": {volume["name"] for volume in config["volumes"].values()},
        "networks": {network["name"] for network in config["networks"].values()},
        "host ports": {(port, protocol) for _, _, port, protocol in host_ports(config)},
    }


@pytest.fixture(scope="module")
def two_instances(render) -> tuple[dict, dict]:
    shop = render(project_name="acme-shop", port_offset=0)
    blog = render(project_name="acme-blog", port_offset=100)
    return compose_config(shop, "local"), compose_config(blog, "local")


def test_two_instances_share_nothing(two_instances):
    first, second = (docker_objects(config) for config in two_instances)
    for kind in first:
        assert first[kind], f"no {kind} found"
        shared = first[kind] & second[kind]
        assert not shared, f"both instances use these {kind}: {sorted(shared)}"


def test_each_instance_has_its_own_realtime_alias(two_instances):
    """The alias Kong uses for Realtime exists on each instance's own network only."""
    for config in two_instances:
        realtime_networks = config["services"]["realtime"]["networks"]
        assert list(realtime_networks) == ["default"]
        assert "realtime-dev.realtime" in realtime_networks["default"]["aliases"]
    assert two_instances[0]["networks"]["default"]["name"] != two_instances[1]["networks"]["default"]["name"]


@pytest.mark.parametrize("offset", range(0, 1000, 100))
def test_offsets_below_1000_never_collide(offset: int):
    """Offsets in steps of 100 (the registry's default) keep instances apart up to 900.

    From 1000 on, an instance's Kong (8000 + 1000) lands on MinIO's base port 9000: the port
    table's base values are 1000 apart there, so the registry must keep offsets below 1000
    or check the actual ports.
    """
    ports = {p.base + offset for p in PORT_TABLE}
    for other in range(0, 1000, 100):
        if other != offset:
            assert not ports & {p.base + other for p in PORT_TABLE}, (offset, other)
