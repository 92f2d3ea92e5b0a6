"""The embedded default world for `make demo` and the test suite: loopback services, moto, an ECS rollout
simulator and a local stand-in for CloudWatch alarm evaluation. Never deployed (outside functions/)."""
