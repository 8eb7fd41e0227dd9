"""Docker: the engine, the node images, a Lab of Nodes on its own network, the docker exec executor."""
