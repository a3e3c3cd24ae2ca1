"""Fictional people and organisations for the sandbox's demo database (see `core.demo`).

Every name, unit, ID number, credit code, phone and address here is invented; ID numbers and
credit codes are well-formed (valid check characters) so they pass the real validators.
Generation is deterministic: the same database comes out of every fresh start.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from typing import Any

from core.identity import id_check_char, uscc_check_char

# Telegram user ids of the simulated people (the sandbox's chats have the same ids).
ADMIN_TG = 100001
SUPERVISOR_TG = 100002
CONTACT_TG_BASE = 200000   # + 1..4
EXPERT_TG_BASE = 300000    # + 1..60
NEW_USER_TG_BASE = 900000  # + 1, 2, … ("a new user" personas, not in the database until they write)
EXPERT_COUNT = 60
ENGLISH_EXPERTS = (5, 23)  # expert numbers whose account language is English
NEAR_TERM_END = 12         # expert number whose term ends about a month from today
FLAGGED = 38                # expert number (field: EIA) who refuses three times (Art. 16(3) flag)


@dataclass(frozen=True)
class Org:
    name: str
    nature: str  # core.enums.UnitNature value
    domain: str
    uscc_head: str  # first 8 characters of the credit code (authority, type, region)


# Experts' employers (fictional).
ORGS: tuple[Org, ...] = (
    Org("天山生态环境科学研究院", "research", "tseri", "12650100"),
    Org("新疆瀚海环境工程有限公司", "private", "hanhai-env", "91650100"),
    Org("乌鲁木齐博峰环境监测技术有限公司", "private", "bofeng-jc", "91650100"),
    Org("西域大学资源与环境学院", "university", "xiyu-edu", "12650000"),
    Org("准噶尔环境规划设计研究院", "research", "zgeri", "12650000"),
    Org("天池环保产业协会", "association", "tianchi-hb", "51650100"),
    Org("乌鲁木齐市红山区生态环境服务中心", "government", "hongshan-st", "11650102"),
    Org("新疆绿洲农业环境研究所", "research", "lvzhou-ag", "12650000"),
    Org("丝路核与辐射安全技术中心", "state_owned", "silu-nrs", "91650000"),
    Org("昆仑环境经济研究所", "research", "kunlun-ee", "52650100"),
    Org("新疆正衡环境损害司法鉴定所", "other", "zhengheng-jd", "31650000"),
    Org("天山碳中和研究中心", "research", "ts-carbon", "12650100"),
    Org("博格达环保科技有限公司", "joint_venture", "bogda-tech", "91650100"),
    Org("新疆雪域能源集团有限公司", "state_owned", "xueyu-energy", "91650100"),
)

# The four using units: (org, contact name, contact language).
UNITS: tuple[tuple[Org, str, str], ...] = (
    (ORGS[13], "赵立军", "zh"),
    (Org("乌鲁木齐天山新区建设管理局", "government", "tsxq", "11650100"), "陈静", "zh"),
    (Org("博格达工业园区管理委员会", "government", "bgd-park", "11650100"), "马晓峰", "zh"),
    (Org("西域绿源水务有限公司", "state_owned", "lvyuan-water", "91650100"), "李娜", "en"),
)
ADMIN_NAME = "王敏"
SUPERVISOR_NAME = "刘建华"

# Field code → (specialties, employers (ORGS indices), certificate kind or "", achievements topic).
FIELD_PROFILES: dict[str, tuple[tuple[str, ...], tuple[int, ...], str, str]] = {
    "env_science": (("环境化学", "环境生物学"), (0, 3, 4), "", "区域大气复合污染成因研究"),
    "env_engineering": (("水污染控制工程", "大气污染控制工程", "固体废物处理与处置"), (1, 12, 4), "注册环保工程师",
                        "工业园区污水集中处理工程设计"),
    "eco_protection": (("生态学", "自然保护地管理"), (0, 3, 7), "", "天山北坡生物多样性本底调查"),
    "monitoring": (("环境监测技术", "污染源在线监控"), (2, 6, 0), "", "污染源自动监控数据质量评估"),
    "eia": (("环境影响评价", "排污许可"), (4, 1, 12), "环境影响评价工程师", "重点建设项目环境影响评价"),
    "policy_law": (("环境法学", "环境标准"), (3, 9, 10), "", "地方生态环境标准体系研究"),
    "climate": (("碳排放核算", "气候变化适应"), (11, 0, 9), "", "城市温室气体排放清单编制"),
    "rural": (("农村环境治理", "农业面源污染防治"), (7, 3, 5), "", "农村生活污水治理模式研究"),
    "nuclear": (("辐射防护", "核与辐射安全"), (8, 0), "注册核安全工程师", "电磁与电离辐射环境监测"),
    "env_economics": (("环境经济学", "排污权交易"), (9, 3, 11), "", "排污权有偿使用定价研究"),
    "damage_compensation": (("环境损害鉴定评估", "生态修复"), (10, 4, 0), "", "生态环境损害鉴定评估案例"),
}
FIELD_ORDER = tuple(FIELD_PROFILES)

SURNAMES = "王李张刘陈杨赵黄周吴徐孙朱胡郭何高林罗郑梁谢宋唐韩冯董程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶余潘杜戴夏钟汪田任姜范方石"
GIVEN_MALE = ("建国", "志强", "海涛", "文博", "德明", "俊杰", "立新", "永胜", "振华", "宏伟", "国平", "天宇",
              "明远", "晓东", "学军", "思源", "新民", "卫东", "家豪", "云飞")
GIVEN_FEMALE = ("晓燕", "丽娟", "静怡", "秀英", "雪梅", "春华", "慧敏", "红霞", "子涵", "玉兰", "凤琴", "淑珍",
                "桂芳", "文静", "雅琴", "海燕")
# Names written with the middle dot, as on Uyghur and Kazakh ID cards: (name, gender, ethnicity).
DOTTED = (("买买提·艾力", "male", "维吾尔族"), ("古丽娜尔·吐尔逊", "female", "维吾尔族"),
          ("努尔兰·哈斯木", "male", "哈萨克族"), ("阿依古丽·买买提", "female", "维吾尔族"),
          ("叶尔兰·托合提", "male", "哈萨克族"))
REGIONS = ("650102", "650103", "650104", "650105", "650106", "650109", "652301", "620102", "610113", "420106",
           "110108", "320102")
TITLES = {"research": ("研究员", "副研究员", "正高级工程师"), "university": ("教授", "副教授"),
          "default": ("正高级工程师", "高级工程师", "高级工程师")}
POSITIONS = ("所长", "副院长", "总工程师", "技术总监", "室主任", "项目负责人", "高级顾问", "副总工程师")
SCHOOLS = ("新疆大学", "兰州大学", "清华大学", "南京大学", "北京师范大学", "中国科学院大学", "同济大学",
           "武汉大学", "石河子大学", "新疆农业大学")
EDUCATION = ("研究生/博士", "研究生/硕士", "研究生/硕士", "大学本科/学士")
DISTRICTS = ("天山区", "沙依巴克区", "新市区", "水磨沟区", "头屯河区", "米东区")
STREETS = ("雪松路", "青云街", "博雅路", "天禾路", "明泉路", "松涛街", "云杉路", "锦绣街")


def id_number(region: str, born: date, male: bool, order: int) -> str:
    """A well-formed resident ID number (GB 11643) for a fictional person."""
    seq = order % 1000 - (order % 1000) % 2 + (1 if male else 0)
    first17 = f"{region}{born:%Y%m%d}{min(seq, 999 if male else 998):03d}"
    return first17 + id_check_char(first17)


def uscc(head: str, rng: random.Random) -> str:
    """A well-formed unified social credit code (GB 32100) with the given first 8 characters."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    first17 = head + "".join(rng.choice(alphabet[:10] if i < 3 else alphabet) for i in range(9))
    return first17 + uscc_check_char(first17)


def _name(n: int, rng: random.Random) -> tuple[str, str, str]:
    if n % 12 == 4:
        name, gender, ethnicity = DOTTED[(n // 12) % len(DOTTED)]
        return name, gender, ethnicity
    male = rng.random() < 0.6
    given = rng.choice(GIVEN_MALE if male else GIVEN_FEMALE)
    surname = SURNAMES[(n * 7) % len(SURNAMES)]
    ethnicity = "回族" if n % 17 == 9 else "汉族"
    return surname + given, "male" if male else "female", ethnicity


def expert_forms(today: date, seed: int = 2026) -> list[dict[str, Any]]:
    """Sixty 附件1 forms (as the application flow would submit them) plus demo extras:
    "_field_primary", "_term_start" and "_language" (keys starting with "_" are not form fields)."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    names_seen: set[str] = set()
    for n in range(1, EXPERT_COUNT + 1):
        primary = FIELD_ORDER[(n - 1) % len(FIELD_ORDER)]
        specialties, orgs, cert_kind, topic = FIELD_PROFILES[primary]
        extras = [f for f in rng.sample(FIELD_ORDER, 3) if f != primary][: rng.choice((0, 1, 1, 2))]
        if primary == "eia" and "env_engineering" not in extras and len(extras) < 2:
            extras.append("env_engineering")
        name, gender, ethnicity = _name(n, rng)
        while name in names_seen:
            name = name[0] + rng.choice(GIVEN_MALE if gender == "male" else GIVEN_FEMALE)
        names_seen.add(name)
        born = date(rng.randint(1961, 1986), rng.randint(1, 12), rng.randint(1, 28))
        org = ORGS[orgs[n % len(orgs)]]
        if n in (16, 44):
            org = ORGS[13]  # two experts work for a using unit: excluded from its panels (Art. 13)
        titles = TITLES.get(org.nature, TITLES["default"])
        title = titles[n % len(titles)]
        title_year = min(born.year + rng.randint(32, 40), today.year - 2)
        years = max(6, today.year - born.year - rng.randint(24, 28))
        start_year = today.year - years
        cert = f"{cert_kind} {'HP' if cert_kind.startswith('环境影响') else 'ZH'}{rng.randrange(10**7):07d}" \
            if cert_kind and rng.random() < 0.8 else ""
        previous: list[dict[str, Any]] = []
        history = [f"{start_year}—至今 {org.name} {POSITIONS[n % len(POSITIONS)]}"]
        if n % 3 == 0:
            other = ORGS[(n * 5) % len(ORGS)]
            if n in (9, 27):
                other = UNITS[1 + n % 3][0]  # formerly with a using unit: recused within the look-back
            if other.name != org.name:
                left = date(today.year - (1 if n % 2 else 6), rng.randint(1, 12), 1)
                left = min(left, date(today.year - 1, 12, 1))
                previous.append({"name": other.name, "left_on": left.isoformat()})
                history.insert(0, f"{start_year - 4}—{left.year} {other.name} 工程师")
        male = gender == "male"
        region = REGIONS[n % len(REGIONS)]
        term_start = date.fromordinal(today.toordinal() - rng.randint(220, 1000))
        if n == NEAR_TERM_END:
            term_start = date.fromordinal(today.replace(year=today.year - 3).toordinal() + 33)
        street = STREETS[n % len(STREETS)]
        form: dict[str, Any] = {
            "name": name, "gender": gender, "birth_month": f"{born:%Y-%m}", "ethnicity": ethnicity,
            "education": EDUCATION[n % len(EDUCATION)],
            "id_number": id_number(region, born, male, 100 + n * 2),
            "work_unit": org.name, "position": POSITIONS[n % len(POSITIONS)], "certificate": cert,
            "employed": n % 19 != 0, "unit_nature": org.nature, "title": title,
            "title_obtained": f"{title_year}-{rng.randint(1, 12):02d}",
            "specialty": specialties[n % len(specialties)],
            "graduated": f"{SCHOOLS[n % len(SCHOOLS)]} {specialties[0]}",
            "address": f"乌鲁木齐市{DISTRICTS[n % len(DISTRICTS)]}{street}{rng.randint(1, 399)}号",
            "phone": f"1{rng.choice('35789')}{rng.randrange(10)}{rng.randrange(10**8):08d}",
            "email": f"e{n:03d}@{org.domain}.example.cn",
            "fields": [primary, *extras],
            "years_in_field": years,
            "work_history": "；".join(history),
            "achievements": f"主持{topic}等项目{rng.randint(2, 9)}项，发表论文{rng.randint(5, 40)}篇",
            "previous_units": previous,
            "_term_start": term_start,
            "_language": "en" if n in ENGLISH_EXPERTS else "zh",
        }
        out.append(form)
    return out


def contact_phone(i: int) -> str:
    return f"1399910{i:04d}"
