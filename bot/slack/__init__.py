"""The Slack adapter: Bolt app, listeners, Block Kit builders, the Slack notifier and App Home."""
