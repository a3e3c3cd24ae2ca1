"""Settings: built-in defaults < TOML file (EXPERTPANEL_CONFIG, default ./config.toml) < environment.

Environment variables use the prefix EXPERTPANEL_ and `__` for nesting, e.g.
EXPERTPANEL_TELEGRAM__TOKEN or EXPERTPANEL_DATABASE__URL.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from core.errors import DomainError


class Category(BaseModel):
    """One professional field (Art. 6); `code` is stable, names may be edited by the bureau."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")
    name_zh: str = Field(min_length=1, max_length=40)
    name_en: str = Field(min_length=1, max_length=80)
    description: str = Field(default="", max_length=400)


DEFAULT_CATEGORIES: list[Category] = [
    Category(code="env_science", name_zh="环境科学", name_en="Environmental science",
             description="包括研究环境化学、环境生物学、环境地学、环境物理学等"),
    Category(code="env_engineering", name_zh="环境工程", name_en="Environmental engineering",
             description="包括大气污染控制工程、水污染控制工程、土壤及地下水环境管控、固体废物处理与处置、核与辐射安全、环境生态工程等"),
    Category(code="eco_protection", name_zh="生态保护", name_en="Ecological protection",
             description="包括生态学、自然保护地管理、生物多样性保护等"),
    Category(code="monitoring", name_zh="环境监测与监控", name_en="Environmental monitoring",
             description="包括环境监测技术、环境质量评价、污染源在线监控、自行监测等"),
    Category(code="eia", name_zh="环境影响评价", name_en="Environmental impact assessment",
             description="包括排污许可、建设项目环保竣工验收等"),
    Category(code="policy_law", name_zh="环境政策与法规标准", name_en="Environmental policy, law and standards",
             description="包括环境政策、环境法治、环境标准等"),
    Category(code="climate", name_zh="气候变化", name_en="Climate change",
             description="包括气候变化科学、碳减排、碳汇等"),
    Category(code="rural", name_zh="农业农村环境", name_en="Agricultural and rural environment",
             description="包括农业生态学、农村环境治理等"),
    Category(code="nuclear", name_zh="核与辐射", name_en="Nuclear and radiation",
             description="包括核物理学、辐射防护、核与辐射安全应急处置等"),
    Category(code="env_economics", name_zh="环境经济", name_en="Environmental economics",
             description="包括环境经济学、生态经济学、排污权交易等"),
    Category(code="damage_compensation", name_zh="生态环境损害赔偿", name_en="Eco-environmental damage compensation",
             description="包括环境损害司法鉴定、环境风险评估、生态修复和法律等"),
]


class DeclineReason(BaseModel):
    """A configured decline reason; `justified` ones never count toward Art. 16(3)."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,20}$")
    justified: bool


DEFAULT_DECLINE_REASONS = [
    DeclineReason(code="schedule", justified=True),
    DeclineReason(code="health", justified=True),
    DeclineReason(code="no_unit_consent", justified=True),
    DeclineReason(code="travel", justified=True),
    DeclineReason(code="other", justified=False),
]


class TelegramSettings(BaseModel):
    token: SecretStr | None = None
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    admins: list[int] = Field(default_factory=list)
    # Connections to the Bot API; requests beyond them wait in order (bot/http.py).
    connection_pool: int = Field(default=32, ge=1, le=1024)
    webhook_url: str | None = None
    # Telegram sends it in X-Telegram-Bot-Api-Secret-Token with every webhook call; required in
    # webhook mode (1-256 characters: A-Z, a-z, 0-9, _ and -).
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)

    @field_validator("webhook_secret")
    @classmethod
    def _secret_token(cls, v: SecretStr | None) -> SecretStr | None:
        import re

        if v is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", v.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return v


class DatabaseSettings(BaseModel):
    url: str = "sqlite+aiosqlite:///expertpanel.db"
    echo: bool = False
    busy_timeout_ms: int = Field(default=10_000, ge=0)

    @field_validator("url")
    @classmethod
    def _supported(cls, v: str) -> str:
        if not (v.startswith("sqlite+aiosqlite://") or v.startswith("postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return v


class RulesSettings(BaseModel):
    term_years: int = Field(default=3, ge=1, le=10)
    max_fields: int = Field(default=3, ge=1, le=11)
    min_panel: int = Field(default=3, ge=3)
    conflict_lookback_years: int = Field(default=3, ge=0, le=20)
    refusal_limit: int = Field(default=3, ge=1)
    refusal_window_days: int = Field(default=365, ge=1)
    evaluation_edit_days: int = Field(default=7, ge=0)
    commendation_min_evaluations: int = Field(default=5, ge=1)
    commendation_min_mean: float = Field(default=4.5, ge=1, le=5)
    poor_streak_length: int = Field(default=3, ge=1)
    poor_streak_mean: float = Field(default=2.5, ge=1, le=5)
    regulation_effective: str = "2025-06-05"
    regulation_years: int = Field(default=5, ge=1)
    decline_reasons: list[DeclineReason] = Field(default_factory=lambda: list(DEFAULT_DECLINE_REASONS))


class RemindersSettings(BaseModel):
    tick_seconds: float = Field(default=5.0, gt=0, le=3600)
    nudge_fraction: float = Field(default=0.5, gt=0, lt=1)
    meeting_hours_before: list[float] = Field(default_factory=lambda: [24.0, 2.0])
    evaluation_followup_days: list[int] = Field(default_factory=lambda: [3, 7])
    term_expiry_days_before: list[int] = Field(default_factory=lambda: [60, 30, 7])
    regulation_days_before: list[int] = Field(default_factory=lambda: [90, 30])
    digest_hour: int = Field(default=8, ge=0, le=23)


class DeliverySettings(BaseModel):
    global_per_second: float = Field(default=29.0, gt=0, le=30)
    per_chat_per_second: float = Field(default=1.0, gt=0, le=5)
    max_attempts: int = Field(default=8, ge=1)
    lease_seconds: float = Field(default=60.0, gt=0)
    backoff_base_seconds: float = Field(default=2.0, gt=0)
    backoff_max_seconds: float = Field(default=300.0, gt=0)


class SandboxSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    database_url: str = "sqlite+aiosqlite:///expertpanel-sandbox.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="EXPERTPANEL_", env_nested_delimiter="__", extra="forbid"
    )

    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    rules: RulesSettings = Field(default_factory=RulesSettings)
    reminders: RemindersSettings = Field(default_factory=RemindersSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    timezone: str = "Asia/Shanghai"
    default_language: str = Field(default="zh", pattern=r"^(zh|en)$")
    categories: list[Category] = Field(default_factory=lambda: list(DEFAULT_CATEGORIES))

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown IANA time zone") from exc
        return v

    @model_validator(mode="after")
    def _unique_categories(self) -> "Settings":
        codes = [c.code for c in self.categories]
        if len(codes) != len(set(codes)):
            raise ValueError("categories: duplicate code")
        if not codes:
            raise ValueError("categories: at least one is needed")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = Path(os.environ.get("EXPERTPANEL_CONFIG", "config.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(root)"
        value = err.get("input")
        shown = "<hidden>" if "token" in key or "secret" in key else repr(value)
        if isinstance(value, dict):
            shown = "{…}"
        parts.append(f"{key} = {shown}: {err['msg']}")
    return "; ".join(parts)


def load_settings(**overrides: Any) -> Settings:
    """Load settings or raise DomainError('config.invalid') naming key, value and reason."""
    import tomllib

    path = Path(os.environ.get("EXPERTPANEL_CONFIG", "config.toml"))
    if path.is_file():
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise DomainError("config.unreadable", path=str(path), reason=str(exc)) from exc
    elif "EXPERTPANEL_CONFIG" in os.environ:
        raise DomainError("config.missing", path=str(path))
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise DomainError("config.invalid", path=str(path), details=_describe(exc)) from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
