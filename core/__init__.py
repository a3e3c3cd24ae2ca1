"""Channel-agnostic core of expertpanel: domain rules, services, persistence, scheduling."""
