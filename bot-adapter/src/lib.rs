//! Telegram bot adapter: turns updates into ledger commands (filled in by the bot adapter issue).
