"""The chain layer: a local anvil node, deployments, the registry's client and the published spec.
Talking to a node is the ground floor's web3 edge, ``zkgrad.node``."""
