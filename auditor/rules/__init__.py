"""Rule packs: the rule-file schema, loading and validation, the operators and the engine that evaluates them."""
