/*
 * Calibration tables and name parts for `techledger demo` (see demo.h).
 *
 * demo_national mirrors data/national-turnover.csv (turnover in 0.01亿元, so 22398.40亿元 is
 * 2239840); tests/test_demo.c reads the CSV and fails if the two ever disagree. The CSV has
 * no contract count for 2024: it is extrapolated from 2023 at the turnover's growth
 * (950,000 * 68354 / 61475.66).
 *
 * Provincial weights approximate each province's seller-side turnover around 2021-2023 (亿元),
 * ordered so that the 2021 top ten of data/README.md (北京, 广东, 江苏, 上海, 山东, 陕西, 湖北,
 * 浙江, 安徽, 四川) come out in that order; the tilt lets a province's weight drift by a
 * per-mille amount a year (Hunan's fast growth between its two published figures). Beijing is
 * pinned every year, so it stays the largest seller as in every published year.
 */
#include "demo.h"

#include <stddef.h>

const demo_year_figure demo_national[DEMO_YEARS] = {
    {2016, 320437, 1140698}, {2017, 367586, 1342422}, {2018, 411985, 1769742},
    {2019, 484077, 2239840}, {2020, 549353, 2825151}, {2021, 670506, 3729430},
    {2022, 772507, 4779102}, {2023, 950000, 6147566}, {2024, 1056273, 6835400},
};

static const char *const uni_11[] = {"清华大学", "北京大学", "北京航空航天大学", "北京理工大学",
                                     "北京科技大学", "北京化工大学", "中国农业大学", NULL};
static const char *const ins_11[] = {"中国科学院计算技术研究所", "中国科学院化学研究所",
                                     "中国科学院自动化研究所", "中国农业科学院作物科学研究所",
                                     "钢铁研究总院", NULL};
static const char *const uni_12[] = {"天津大学", "南开大学", "河北工业大学", NULL};
static const char *const ins_12[] = {"中国科学院天津工业生物技术研究所", NULL};
static const char *const uni_21[] = {"大连理工大学", "东北大学", NULL};
static const char *const ins_21[] = {"中国科学院大连化学物理研究所", "中国科学院沈阳自动化研究所", NULL};
static const char *const uni_22[] = {"吉林大学", NULL};
static const char *const ins_22[] = {"中国科学院长春光学精密机械与物理研究所", NULL};
static const char *const uni_23[] = {"哈尔滨工业大学", "哈尔滨工程大学", NULL};
static const char *const uni_31[] = {"上海交通大学", "复旦大学", "同济大学", "华东理工大学", NULL};
static const char *const ins_31[] = {"中国科学院上海有机化学研究所", "中国科学院上海微系统与信息技术研究所", NULL};
static const char *const uni_32[] = {"南京大学", "东南大学", "江南大学", "南京航空航天大学", "中国矿业大学", NULL};
static const char *const ins_32[] = {"江苏省产业技术研究院", NULL};
static const char *const uni_33[] = {"浙江大学", "浙江工业大学", NULL};
static const char *const ins_33[] = {"之江实验室", NULL};
static const char *const uni_34[] = {"中国科学技术大学", "合肥工业大学", NULL};
static const char *const ins_34[] = {"中国科学院合肥物质科学研究院", NULL};
static const char *const uni_37[] = {"山东大学", "中国海洋大学", "中国石油大学（华东）", NULL};
static const char *const ins_37[] = {"山东省科学院", NULL};
static const char *const uni_41[] = {"郑州大学", NULL};
static const char *const uni_42[] = {"华中科技大学", "武汉大学", "武汉理工大学", NULL};
static const char *const ins_42[] = {"武汉邮电科学研究院", NULL};
static const char *const uni_43[] = {"中南大学", "湖南大学", NULL};
static const char *const uni_44[] = {"中山大学", "华南理工大学", "南方科技大学", "深圳大学", NULL};
static const char *const ins_44[] = {"广东省科学院", NULL};
static const char *const uni_50[] = {"重庆大学", NULL};
static const char *const uni_51[] = {"四川大学", "电子科技大学", "西南交通大学", NULL};
static const char *const ins_51[] = {"中国工程物理研究院", NULL};
static const char *const uni_61[] = {"西安交通大学", "西北工业大学", "西安电子科技大学", NULL};
static const char *const ins_61[] = {"中国科学院西安光学精密机械研究所", NULL};

const demo_province demo_provinces[DEMO_PROVINCES] = {
    {11, "北京", 0, 0, 70, uni_11, ins_11},
    {12, "天津", 1250, 0, 25, uni_12, ins_12},
    {13, "河北", 800, 20, 30, NULL, NULL},
    {14, "山西", 150, 0, 12, NULL, NULL},
    {15, "内蒙古", 50, 0, 10, NULL, NULL},
    {21, "辽宁", 900, 0, 20, uni_21, ins_21},
    {22, "吉林", 450, 0, 10, uni_22, ins_22},
    {23, "黑龙江", 350, 0, 10, uni_23, NULL},
    {31, "上海", 2800, 40, 60, uni_31, ins_31},
    {32, "江苏", 2900, 30, 100, uni_32, ins_32},
    {33, "浙江", 2000, 30, 80, uni_33, ins_33},
    {34, "安徽", 1850, 80, 40, uni_34, ins_34},
    {35, "福建", 400, 0, 30, NULL, NULL},
    {36, "江西", 550, 20, 20, NULL, NULL},
    {37, "山东", 2450, 20, 70, uni_37, ins_37},
    {41, "河南", 650, 30, 40, uni_41, NULL},
    {42, "湖北", 2250, 60, 50, uni_42, ins_42},
    {43, "湖南", 1200, 250, 30, uni_43, NULL},
    {44, "广东", 3400, 0, 120, uni_44, ins_44},
    {45, "广西", 200, 0, 15, NULL, NULL},
    {46, "海南", 50, 0, 6, NULL, NULL},
    {50, "重庆", 500, 20, 25, uni_50, NULL},
    {51, "四川", 1420, 20, 40, uni_51, ins_51},
    {52, "贵州", 300, 0, 12, NULL, NULL},
    {53, "云南", 250, 0, 12, NULL, NULL},
    {54, "西藏", 5, 0, 2, NULL, NULL},
    {61, "陕西", 2350, 40, 30, uni_61, ins_61},
    {62, "甘肃", 290, 0, 8, NULL, NULL},
    {63, "青海", 20, 0, 3, NULL, NULL},
    {64, "宁夏", 30, 0, 4, NULL, NULL},
    {65, "新疆", 70, 0, 8, NULL, NULL},
};

const demo_anchor demo_anchors[] = {
    {11, 2016, 394098, 0, false},
    {11, 2017, 448530, 0, false},
    {11, 2018, 495780, 0, false},
    {11, 2019, 569530, 0, true},
    {11, 2020, 631616, 0, true},
    {11, 2021, 700570, 0, false},
    {11, 2022, 794750, 0, false},
    {11, 2023, 853690, 106552, true},
    {11, 2024, 900000, 0, false},
    {31, 2020, 181527, 0, true},
    {32, 2021, 301356, 82555, true},
    {61, 2022, 305350, 0, true},
    {43, 2017, 20311, 0, true},
    {43, 2020, 73595, 0, true},
};
const size_t demo_anchor_count = sizeof demo_anchors / sizeof demo_anchors[0];

int demo_province_index(unsigned code)
{
    for (int i = 0; i < DEMO_PROVINCES; i++)
        if (demo_provinces[i].code == code)
            return i;
    return -1;
}

const char *const demo_firm_heads[] = {"中科", "华芯", "智联", "新源", "博瑞", "天成", "恒信", "睿达",
                                       "海创", "星辰", "凯德", "宏图", "瑞丰", "安泰", "锐思", "精诚",
                                       "云帆", "众合", "启明", "远航", "青禾", "金桥", "德润", "卓越"};
const size_t demo_firm_head_count = sizeof demo_firm_heads / sizeof demo_firm_heads[0];
const char *const demo_firm_trades[] = {"智能", "微电子", "生物", "新材料", "能源", "医疗", "信息",
                                        "精密", "环保", "光电", "数控", "农业", "航空", "通信",
                                        "软件", "化工", "装备", "检测"};
const size_t demo_firm_trade_count = sizeof demo_firm_trades / sizeof demo_firm_trades[0];
const char *const demo_firm_suffixes[] = {"科技有限公司", "技术股份有限公司", "科技股份有限公司",
                                          "技术有限公司"};
const size_t demo_firm_suffix_count = sizeof demo_firm_suffixes / sizeof demo_firm_suffixes[0];

const char *const demo_topics[TL_FIELD_COUNT][4] = {
    [TL_FIELD_ELECTRONIC_INFORMATION] = {"工业互联网平台", "高性能计算芯片", "智能语音识别", "5G基站射频模块"},
    [TL_FIELD_ADVANCED_MANUFACTURING] = {"五轴联动数控机床", "工业机器人控制系统", "增材制造工艺", "精密减速器"},
    [TL_FIELD_AEROSPACE] = {"航空发动机叶片", "卫星导航终端", "无人机飞控系统", "复合材料机身结构"},
    [TL_FIELD_MODERN_TRANSPORT] = {"轨道交通牵引系统", "智能网联汽车", "船舶动力系统", "城市交通信号优化"},
    [TL_FIELD_AGRICULTURE] = {"水稻新品种", "节水灌溉装备", "畜禽疫病检测", "设施农业环境控制"},
    [TL_FIELD_NEW_MATERIALS] = {"碳纤维复合材料", "高温合金", "石墨烯导热膜", "稀土永磁材料"},
    [TL_FIELD_NEW_ENERGY] = {"锂电池正极材料", "光伏组件", "氢燃料电池", "余热回收节能"},
    [TL_FIELD_ENVIRONMENT] = {"工业废水处理", "烟气脱硫脱硝", "固废资源化利用", "土壤修复"},
    [TL_FIELD_BIOMEDICINE] = {"单克隆抗体药物", "医学影像设备", "体外诊断试剂", "中药现代化制剂"},
    [TL_FIELD_NUCLEAR] = {"核电站安全监测", "同位素制备", "辐射防护材料", "核医学显像"},
    [TL_FIELD_URBAN_SOCIAL] = {"智慧城市管理平台", "装配式建筑", "城市地下管网监测", "公共卫生信息系统"},
};

const char *const demo_zone_names[] = {
    "河北·京南国家科技成果转移转化示范区", "浙江宁波国家科技成果转移转化示范区",
    "辽宁沈大国家科技成果转移转化示范区", "河南郑洛新国家科技成果转移转化示范区",
    "山东济青烟国家科技成果转移转化示范区", "四川成德绵国家科技成果转移转化示范区",
    "甘肃兰白国家科技成果转移转化示范区", "吉林长吉图国家科技成果转移转化示范区",
    "江苏苏南国家科技成果转移转化示范区", "上海闵行国家科技成果转移转化示范区",
    "湖北汉襄宜国家科技成果转移转化示范区", "广东珠三角国家科技成果转移转化示范区",
};
const size_t demo_zone_count = sizeof demo_zone_names / sizeof demo_zone_names[0];
const uint32_t demo_zone_regions[] = {130000, 330200, 210000, 410000, 370000, 510000,
                                      620000, 220000, 320000, 310112, 420000, 440000};

/* ---- xoshiro256** (Blackman and Vigna), seeded by splitmix64 ---------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void demo_rng_seed(demo_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t demo_rng_next(demo_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t demo_rng_below(demo_rng *r, uint64_t n)
{
    /* Rejection keeps it unbiased; the loop almost never repeats. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = demo_rng_next(r);
    while (x >= limit);
    return x % n;
}

int64_t demo_rng_range(demo_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)demo_rng_below(r, (uint64_t)(hi - lo) + 1);
}

double demo_rng_unit(demo_rng *r)
{
    return (double)(demo_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

bool demo_rng_chance(demo_rng *r, double p) { return demo_rng_unit(r) < p; }
