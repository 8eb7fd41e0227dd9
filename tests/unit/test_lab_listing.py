"""A lab's nodes and the labs' names are read from the engine's list alone: a container removed
between the list and an inspect (another run's lab going down) must not raise."""
from __future__ import annotations

import docker
import pytest
from docker.errors import NotFound

from regen.core.config import LABEL_LAB, LABEL_NODE, LABEL_ROLE
from regen.lab.lab import Lab, lab_names


class RacingAPI(docker.APIClient):
    """The engine's answers as a lab goes down: each container listed is gone when inspected."""

    def __init__(self, listed: list[dict]):
        super().__init__(base_url="unix:///nonexistent/docker.sock", version="1.43")  # never dialled
        self.listed = listed

    def containers(self, **kwargs):
        wanted = kwargs["filters"]["label"]
        key, _, value = wanted.partition("=")
        return [c for c in self.listed if key in c["Labels"] and (not value or c["Labels"][key] == value)]

    def inspect_container(self, container):
        raise NotFound(f"No such container: {container}")

    def networks(self, **kwargs):
        return []


def listed(lab: str, node: str, role: str) -> dict:
    return {"Id": f"{lab}-{node}-id", "Names": [f"/{lab}-{node}"],
            "Labels": {LABEL_LAB: lab, LABEL_NODE: node, LABEL_ROLE: role}}


@pytest.fixture
def client() -> docker.DockerClient:
    c = docker.DockerClient.__new__(docker.DockerClient)
    c.api = RacingAPI([listed("a", "agent-2", "agent"), listed("a", "puppet", "server"),
                       listed("a", "agent-1", "agent"), listed("b", "puppet", "server")])
    return c


def test_the_engine_answers_as_the_fixture_says(client):
    with pytest.raises(NotFound):  # what docker-py's plain list does, and what the lab must not
        client.containers.list(all=True, filters={"label": LABEL_LAB})


def test_a_labs_nodes_come_from_the_list_in_role_order(client):
    nodes = Lab(client, "a").nodes
    assert [(n.name, n.role, n.container) for n in nodes] == [
        ("puppet", "server", "a-puppet"), ("agent-1", "agent", "a-agent-1"), ("agent-2", "agent", "a-agent-2")]


def test_the_labs_names_come_from_the_list(client):
    assert lab_names(client) == {"a", "b"}
