"""Scheduling: the APScheduler ticks that find due work in the database and queue messages.

`Scheduler` (scheduler.py) runs `run_tick` (ticks.py) every `[reminders] tick_seconds`; the
due-rules live in reminders.py and claim with `ReminderMark`s (marks.py). Channel-agnostic:
rules only write outbox rows; the bot's notifier delivers them.
"""
