"""The wal-service-guardrails CrossGuard policy pack (validators in `policy.guardrails`)."""
