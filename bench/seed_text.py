"""Words for bench/seed.py: a province's units and the Chinese titles, descriptions and measures of its items."""
from __future__ import annotations

import random

PROVINCE = ("PROV", "省整改办")
CITIES = ("南京市", "无锡市", "徐州市", "常州市", "苏州市", "南通市", "连云港市", "淮安市", "盐城市", "扬州市",
          "镇江市", "泰州市", "宿迁市")
DEPARTMENTS = (("EDU", "教育局"), ("CA", "民政局"), ("HEALTH", "卫生健康委"), ("ENV", "生态环境局"),
               ("HOUSING", "住房城乡建设局"), ("TRANS", "交通运输局"), ("MARKET", "市场监管局"))
PLACES = ("城南小学", "第一中学", "实验幼儿园", "人民医院", "中心卫生院", "养老服务中心", "福利院", "农贸市场",
          "建筑工地", "污水处理厂", "化工园区", "长途汽车站", "高速服务区", "老旧小区", "城中村", "垃圾中转站",
          "河道", "饮用水源地", "工业园区", "商业综合体", "社区卫生服务站", "体育馆", "图书馆", "地铁站",
          "物流园", "冷链仓库", "加油站", "菜市场", "校外培训机构", "敬老院")
PROBLEMS = ("食堂食品安全隐患", "消防通道堵塞", "污水直排", "扬尘污染", "燃气管道老化", "电梯维保不到位",
            "安全出口标识缺失", "危险化学品存放不规范", "噪声扰民", "违规收费", "台账资料不全", "监控设施损坏",
            "排污许可证过期", "医疗废物处置不规范", "外墙脱落风险", "无障碍设施缺失", "油烟超标排放",
            "应急预案未演练", "从业人员健康证过期", "防汛物资储备不足", "违规占用耕地", "黑臭水体反弹",
            "建筑垃圾乱倒", "特种设备未检验", "消防设施失效", "门卫值守缺位", "校车安全管理缺失",
            "冷链食品追溯不全", "生活垃圾分类不到位", "挥发性有机物治理设施闲置")
FINDINGS = ("检查发现{place}{problem}，现场{n}处不符合要求。", "群众反映{place}长期存在{problem}问题，经核实属实。",
            "督查组抽查{n}家单位，其中{place}{problem}情况突出。", "专项检查中发现{place}未按规定整改{problem}。",
            "第{n}轮巡查指出{place}{problem}，涉及范围较广。")
CAUSES = ("主体责任落实不到位，日常巡查流于形式。", "管理制度不健全，责任分工不明确。", "资金投入不足，设施设备老化。",
          "监管部门督促指导不力，问题长期未解决。", "相关人员培训不足，操作不规范。")
MEASURES = ("立即组织全面排查，{n}日内完成整改并建立长效机制。", "制定整改方案，明确责任人和完成时限，每周报告进展。",
            "开展专项培训，完善管理制度，落实日常巡查。", "更换老化设施设备，委托第三方检测并出具报告。",
            "约谈相关负责人，限期整改到位，纳入年度考核。")
PROGRESS = ("已完成现场排查，正在落实整改措施。", "整改方案已报批，设备采购中。", "已完成{n}%的整改任务，剩余部分按计划推进。",
            "已组织复查，发现的问题正在逐项销号。")


def title(rng: random.Random) -> str:
    """A problem's title: a place and what is wrong there."""
    return f"{rng.choice(PLACES)}{rng.choice(PROBLEMS)}"


def description(rng: random.Random, city: str, item_title: str) -> str:
    """Two or three sentences on what was found and why (40-120 characters)."""
    place = f"{city}{rng.choice(PLACES)}"
    text = rng.choice(FINDINGS).format(place=place, problem=rng.choice(PROBLEMS), n=rng.randint(2, 30))
    return f"{item_title}。{text}{rng.choice(CAUSES)}"


def measures(rng: random.Random) -> str:
    """What the unit will do about it."""
    return rng.choice(MEASURES).format(n=rng.choice((5, 10, 15, 30)))


def progress(rng: random.Random) -> str:
    """A progress report's comment."""
    return rng.choice(PROGRESS).format(n=rng.randint(20, 90))
