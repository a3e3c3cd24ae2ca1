"""Fictional but well-formed people for tests: valid ID numbers, phones, forms."""
from __future__ import annotations

import random
from datetime import date
from typing import Any

from core.identity import id_check_char

PROVINCES = ("65", "11", "31", "44", "51", "62")


def make_id_number(birth: date, *, male: bool = True, seq: int = 1, region: str = "650102") -> str:
    order = seq % 1000
    order = order - (order % 2) + (1 if male else 0)
    if order > 999:
        order -= 2
    first17 = f"{region}{birth:%Y%m%d}{order:03d}"
    return first17 + id_check_char(first17)


def form_data(i: int = 1, **overrides: Any) -> dict[str, Any]:
    """A valid 附件1 form for person number i (distinct ID number per i)."""
    rnd = random.Random(i)
    birth = date(1960 + i % 30, 1 + i % 12, 1 + i % 28)
    male = i % 2 == 0
    data: dict[str, Any] = {
        "name": f"测试专家{i}",
        "gender": "male" if male else "female",
        "birth_month": f"{birth:%Y-%m}",
        "ethnicity": "汉族",
        "education": "研究生/博士",
        "id_number": make_id_number(birth, male=male, seq=i * 2 + 1),
        "work_unit": f"新疆测试环境研究院{i % 7}",
        "position": "总工程师",
        "certificate": "注册环保工程师 HB0001",
        "employed": True,
        "unit_nature": "research",
        "title": "高级工程师",
        "title_obtained": "2010-06",
        "specialty": "大气污染控制",
        "graduated": "新疆大学 环境工程",
        "address": f"乌鲁木齐市天山区测试路{i}号",
        "phone": f"138{rnd.randrange(10**8):08d}",
        "email": f"expert{i}@example.cn",
        "fields": ["eia", "monitoring"],
        "years_in_field": 12,
        "work_history": "2005-至今 新疆测试环境研究院 高级工程师",
        "achievements": "主持课题三项",
        "previous_units": [],
    }
    data.update(overrides)
    return data
