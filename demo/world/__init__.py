"""The embedded default world for `make demo` and the test suite; never deployed (outside functions/).

It knows no scenario. Moto is AWS (`local_aws`), the stack's stateful resources are created as `template.yaml`
declares them (`template`, `stack`), the guarded service runs on moto's ECS with a rollout simulator
(`service`, `ecs_simulator`, `blue_green`) and its images in moto's ECR (`ecr`), loopback HTTP services stand in
for the ALB's targets (`services`), a local evaluator stands in for CloudWatch's alarm evaluation
(`alarm_evaluator`, `alarms`), events reach the real handlers through the template's rules (`delivery`,
`functions`), all on one simulated clock (`clock`); the functions' logs are read as an operator would
(`function_logs`). `World` (`world`) assembles them.
"""

from demo.world.service import CLUSTER, FAMILY, SERVICE
from demo.world.world import World

__all__ = ["CLUSTER", "FAMILY", "SERVICE", "World"]
