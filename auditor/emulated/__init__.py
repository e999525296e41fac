"""Emulated AWS accounts for tests: documented architectures deployed into moto.

* :mod:`.moto_patches` - fills moto 5.2.5 gaps in-process (ECS deployment settings, RDS
  Performance Insights/IOPS/adjacent windows, ElastiCache members and parameter groups).
* :mod:`.builder` - ``build(spec, clients)`` creates a deployment from a declarative spec.
* :mod:`.architectures` - ``spec(name, environment)`` for the five architecture documents.
* :mod:`.neighbour` - ``billing()``, an undocumented application that shares the account.
* :mod:`.demo` - ``deploy``/``deploy_many`` into moto's server, drifts from :mod:`.drifts`.
"""
