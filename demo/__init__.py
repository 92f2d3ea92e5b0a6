"""`make demo`: the incident rehearsed on an embedded AWS. `demo.world` is the embedded world (moto, the ECS
rollout simulator, the alarm evaluator, loopback services, a simulated clock) and knows no scenario;
`demo.scenarios` tells the stories in it. Never deployed (outside functions/); no product module imports it."""
