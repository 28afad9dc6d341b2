/* Domain values: see tl_domain.h. */
#include "tl_domain.h"

#include <string.h>

#include "tl_domain_tables.h"

/* ---- Regions ----------------------------------------------------------------------------- */

bool tl_region_code_known(uint32_t code)
{
    size_t lo = 0, hi = tl_region_codes_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tl_region_codes[mid] < code)
            lo = mid + 1;
        else if (tl_region_codes[mid] > code)
            hi = mid;
        else
            return true;
    }
    return false;
}

int tl_region_parse(uint32_t *out, const char *s, size_t len)
{
    if (out == NULL || s == NULL || len != TL_REGION_LEN)
        return TL_EINVAL;
    uint32_t code = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return TL_EINVAL;
        code = code * 10 + (uint32_t)(s[i] - '0');
    }
    if (!tl_region_code_known(code))
        return TL_EINVAL;
    *out = code;
    return 0;
}

bool tl_region_valid(const char *s, size_t len)
{
    uint32_t code;
    return tl_region_parse(&code, s, len) == 0;
}

unsigned tl_region_province(uint32_t code) { return code / 10000u; }

tl_region_level tl_region_level_of(uint32_t code)
{
    if (code % 10000u == 0)
        return TL_REGION_PROVINCE;
    if (code % 100u == 0)
        return TL_REGION_CITY;
    return TL_REGION_COUNTY;
}

const char *tl_province_name_of(unsigned province)
{
    if (province < 10 || province > 99)
        return NULL;
    char two[3] = {(char)('0' + province / 10), (char)('0' + province % 10), '\0'};
    for (size_t i = 0; i < tl_province_names_count; i++)
        if (strcmp(tl_province_names[i].code, two) == 0)
            return tl_province_names[i].name;
    return NULL;
}

/* ---- Dates ------------------------------------------------------------------------------- */

bool tl_leap_year(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

static unsigned days_in_month(int year, unsigned month)
{
    static const unsigned days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && tl_leap_year(year))
        return 29;
    return days[month - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil), valid
 * for years >= 0, which is all tl_date_parse lets through. */
static int32_t days_from_civil(int year, unsigned month, unsigned mday)
{
    int y = year - (month <= 2 ? 1 : 0);
    int era = y / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153u * (month > 2 ? month - 3 : month + 9) + 2u) / 5u + mday - 1u;
    unsigned doe = yoe * 365u + yoe / 4u - yoe / 100u + doy;
    return (int32_t)(era * 146097 + (int)doe - 719468);
}

void tl_date_ymd(int32_t day, int *year, unsigned *month, unsigned *mday)
{
    int z = (int)day + 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460u + doe / 36524u - doe / 146096u) / 365u;
    unsigned doy = doe - (365u * yoe + yoe / 4u - yoe / 100u);
    unsigned mp = (5u * doy + 2u) / 153u;
    unsigned d = doy - (153u * mp + 2u) / 5u + 1u;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    int y = (int)yoe + era * 400 + (m <= 2 ? 1 : 0);
    if (year != NULL)
        *year = y;
    if (month != NULL)
        *month = m;
    if (mday != NULL)
        *mday = d;
}

int tl_date_year(int32_t day)
{
    int y;
    tl_date_ymd(day, &y, NULL, NULL);
    return y;
}

static bool digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10u + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

int tl_date_parse(int32_t *out_day, const char *s, size_t len)
{
    if (out_day == NULL || s == NULL || len != TL_DATE_LEN || s[4] != '-' || s[7] != '-')
        return TL_EINVAL;
    unsigned y, m, d;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d))
        return TL_EINVAL;
    if (y < TL_DATE_YEAR_MIN || y > TL_DATE_YEAR_MAX || m < 1 || m > 12 || d < 1 ||
        d > days_in_month((int)y, m))
        return TL_EINVAL;
    *out_day = days_from_civil((int)y, m, d);
    return 0;
}

bool tl_date_valid(const char *s, size_t len)
{
    int32_t day;
    return tl_date_parse(&day, s, len) == 0;
}

void tl_date_format(char out[TL_DATE_LEN + 1], int32_t day)
{
    int y;
    unsigned m, d;
    tl_date_ymd(day, &y, &m, &d);
    if (y < 0)
        y = 0;
    if (y > 9999)
        y = 9999;
    unsigned uy = (unsigned)y;
    out[0] = (char)('0' + uy / 1000u);
    out[1] = (char)('0' + uy / 100u % 10u);
    out[2] = (char)('0' + uy / 10u % 10u);
    out[3] = (char)('0' + uy % 10u);
    out[4] = '-';
    out[5] = (char)('0' + m / 10u);
    out[6] = (char)('0' + m % 10u);
    out[7] = '-';
    out[8] = (char)('0' + d / 10u);
    out[9] = (char)('0' + d % 10u);
    out[10] = '\0';
}

/* ---- Identifiers ------------------------------------------------------------------------- */

bool tl_id_valid(const char *s, size_t len)
{
    if (s == NULL || len < TL_ID_BYTES_MIN || len > TL_ID_BYTES_MAX)
        return false;
    bool all_dots = true;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
        if (c != '.')
            all_dots = false;
    }
    /* "." and ".." would be path components with a meaning of their own in stream names and
     * URLs; longer runs of dots are harmless but pointless, so we refuse only those two. */
    return !(all_dots && len <= 2);
}

bool tl_reg_no_valid(const char *s, size_t len)
{
    if (s == NULL || len != TL_REG_NO_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* GB 32100-2015 table 2: the 31 characters in value order. */
static const char credit_alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
#define CREDIT_RADIX 31u
static const unsigned credit_weights[TL_CREDIT_CODE_LEN - 1] = {
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};

static int credit_value(char c)
{
    /* Only upper case: the standard prints codes in capitals, and accepting both would give
     * one organisation two spellings. */
    const char *p = c != '\0' ? strchr(credit_alphabet, c) : NULL;
    return p != NULL ? (int)(p - credit_alphabet) : -1;
}

char tl_credit_code_check_char(const char first17[17])
{
    unsigned sum = 0;
    for (size_t i = 0; i < TL_CREDIT_CODE_LEN - 1; i++) {
        int v = credit_value(first17[i]);
        if (v < 0)
            return 0;
        sum += (unsigned)v * credit_weights[i];
    }
    unsigned check = CREDIT_RADIX - sum % CREDIT_RADIX;
    if (check == CREDIT_RADIX)
        check = 0;
    return credit_alphabet[check];
}

tl_credit_code_status tl_credit_code_check(const char *s, size_t len)
{
    if (s == NULL || len != TL_CREDIT_CODE_LEN)
        return TL_CREDIT_CODE_LENGTH;
    for (size_t i = 0; i < len; i++)
        if (credit_value(s[i]) < 0)
            return TL_CREDIT_CODE_ALPHABET;
    if (tl_credit_code_check_char(s) != s[TL_CREDIT_CODE_LEN - 1])
        return TL_CREDIT_CODE_CHECK;
    return TL_CREDIT_CODE_OK;
}

bool tl_credit_code_valid(const char *s, size_t len)
{
    return tl_credit_code_check(s, len) == TL_CREDIT_CODE_OK;
}

/* ---- Money ------------------------------------------------------------------------------- */

int tl_amount_add(int64_t *acc, int64_t delta)
{
    int64_t sum;
    if (acc == NULL)
        return TL_EINVAL;
    if (__builtin_add_overflow(*acc, delta, &sum))
        return TL_ETOOBIG;
    *acc = sum;
    return 0;
}

uint64_t tl_amount_mul_ppm(uint64_t amount_fen, uint32_t ppm)
{
    /* amount = q * 10^6 + r, so amount * ppm / 10^6 = q * ppm + r * ppm / 10^6 exactly, and
     * neither product can overflow: q * ppm <= 10^9 * 10^6, r * ppm < 10^12. */
    const uint64_t million = 1000000u;
    uint64_t q = amount_fen / million, r = amount_fen % million;
    return q * ppm + r * ppm / million;
}

/* ---- Code lists -------------------------------------------------------------------------- */

int tl_code_parse(const tl_codelist *list, const char *s, size_t len)
{
    if (list == NULL || s == NULL)
        return -1;
    /* This runs for every code field of every event (and of every record a rebuild folds):
     * a name's length is known at compile time, and most names of the right length differ
     * from s in the first byte. */
    if (len == 0)
        return -1;
    for (size_t i = 0; i < list->count; i++) {
        const tl_code *c = &list->codes[i];
        if (c->len == len && c->name[0] == s[0] && memcmp(c->name, s, len) == 0)
            return (int)i;
    }
    return -1;
}

const char *tl_code_name(const tl_codelist *list, int v)
{
    if (list == NULL || v < 0 || (size_t)v >= list->count)
        return NULL;
    return list->codes[v].name;
}

const char *tl_code_name_zh(const tl_codelist *list, int v)
{
    if (list == NULL || v < 0 || (size_t)v >= list->count)
        return NULL;
    return list->codes[v].name_zh;
}

#define CODELIST(var, label, arr, n)                                                             \
    _Static_assert(sizeof(arr) / sizeof((arr)[0]) == (n), label " table matches its enum");     \
    const tl_codelist var = {label, arr, n}

static const tl_code class_codes[] = {
    [TL_CLASS_DEVELOPMENT] = {"development", "技术开发", sizeof "development" - 1},
    [TL_CLASS_TRANSFER] = {"transfer", "技术转让", sizeof "transfer" - 1},
    [TL_CLASS_LICENSE] = {"license", "技术许可", sizeof "license" - 1},
    [TL_CLASS_CONSULTING] = {"consulting", "技术咨询", sizeof "consulting" - 1},
    [TL_CLASS_SERVICE] = {"service", "技术服务", sizeof "service" - 1},
};
CODELIST(tl_codes_class, "class", class_codes, TL_CLASS_COUNT);

static const tl_code subtype_codes[] = {
    [TL_SUB_COMMISSIONED] = {"commissioned", "委托开发", sizeof "commissioned" - 1},
    [TL_SUB_COOPERATIVE] = {"cooperative", "合作开发", sizeof "cooperative" - 1},
    [TL_SUB_PATENT] = {"patent", "专利权转让", sizeof "patent" - 1},
    [TL_SUB_PATENT_APPLICATION] = {"patent_application", "专利申请权转让", sizeof "patent_application" - 1},
    [TL_SUB_TECHNICAL_SECRET] = {"technical_secret", "技术秘密转让", sizeof "technical_secret" - 1},
    [TL_SUB_OTHER_IP] = {"other_ip", "其他知识产权转让", sizeof "other_ip" - 1},
    [TL_SUB_PATENT_LICENSE] = {"patent_license", "专利实施许可", sizeof "patent_license" - 1},
    [TL_SUB_SECRET_LICENSE] = {"secret_license", "技术秘密使用许可", sizeof "secret_license" - 1},
    [TL_SUB_OTHER_LICENSE] = {"other_license", "其他许可", sizeof "other_license" - 1},
    [TL_SUB_FEASIBILITY] = {"feasibility", "可行性论证", sizeof "feasibility" - 1},
    [TL_SUB_FORECAST] = {"forecast", "技术预测", sizeof "forecast" - 1},
    [TL_SUB_SURVEY] = {"survey", "专题技术调查", sizeof "survey" - 1},
    [TL_SUB_ASSESSMENT] = {"assessment", "分析评价报告", sizeof "assessment" - 1},
    [TL_SUB_OTHER] = {"other", "其他技术咨询", sizeof "other" - 1},
    [TL_SUB_GENERAL] = {"general", "一般技术服务", sizeof "general" - 1},
    [TL_SUB_TRAINING] = {"training", "技术培训", sizeof "training" - 1},
    [TL_SUB_INTERMEDIARY] = {"intermediary", "技术中介", sizeof "intermediary" - 1},
};
CODELIST(tl_codes_subtype, "subtype", subtype_codes, TL_SUB_COUNT);

static const uint8_t subtype_class[] = {
    [TL_SUB_COMMISSIONED] = TL_CLASS_DEVELOPMENT,
    [TL_SUB_COOPERATIVE] = TL_CLASS_DEVELOPMENT,
    [TL_SUB_PATENT] = TL_CLASS_TRANSFER,
    [TL_SUB_PATENT_APPLICATION] = TL_CLASS_TRANSFER,
    [TL_SUB_TECHNICAL_SECRET] = TL_CLASS_TRANSFER,
    [TL_SUB_OTHER_IP] = TL_CLASS_TRANSFER,
    [TL_SUB_PATENT_LICENSE] = TL_CLASS_LICENSE,
    [TL_SUB_SECRET_LICENSE] = TL_CLASS_LICENSE,
    [TL_SUB_OTHER_LICENSE] = TL_CLASS_LICENSE,
    [TL_SUB_FEASIBILITY] = TL_CLASS_CONSULTING,
    [TL_SUB_FORECAST] = TL_CLASS_CONSULTING,
    [TL_SUB_SURVEY] = TL_CLASS_CONSULTING,
    [TL_SUB_ASSESSMENT] = TL_CLASS_CONSULTING,
    [TL_SUB_OTHER] = TL_CLASS_CONSULTING,
    [TL_SUB_GENERAL] = TL_CLASS_SERVICE,
    [TL_SUB_TRAINING] = TL_CLASS_SERVICE,
    [TL_SUB_INTERMEDIARY] = TL_CLASS_SERVICE,
};
_Static_assert(sizeof subtype_class == TL_SUB_COUNT, "every subtype has a class");

tl_contract_class tl_subtype_class(tl_contract_subtype sub)
{
    if ((unsigned)sub >= TL_SUB_COUNT)
        return TL_CLASS_COUNT;
    return (tl_contract_class)subtype_class[sub];
}

static const tl_code field_codes[] = {
    [TL_FIELD_ELECTRONIC_INFORMATION] = {"electronic_information", "电子信息", sizeof "electronic_information" - 1},
    [TL_FIELD_ADVANCED_MANUFACTURING] = {"advanced_manufacturing", "先进制造", sizeof "advanced_manufacturing" - 1},
    [TL_FIELD_AEROSPACE] = {"aerospace", "航空航天", sizeof "aerospace" - 1},
    [TL_FIELD_MODERN_TRANSPORT] = {"modern_transport", "现代交通", sizeof "modern_transport" - 1},
    [TL_FIELD_AGRICULTURE] = {"agriculture", "农业", sizeof "agriculture" - 1},
    [TL_FIELD_NEW_MATERIALS] = {"new_materials", "新材料及其应用", sizeof "new_materials" - 1},
    [TL_FIELD_NEW_ENERGY] = {"new_energy", "新能源与高效节能", sizeof "new_energy" - 1},
    [TL_FIELD_ENVIRONMENT] = {"environment", "环境保护与资源综合利用", sizeof "environment" - 1},
    [TL_FIELD_BIOMEDICINE] = {"biomedicine", "生物医药和医疗器械", sizeof "biomedicine" - 1},
    [TL_FIELD_NUCLEAR] = {"nuclear", "核应用", sizeof "nuclear" - 1},
    [TL_FIELD_URBAN_SOCIAL] = {"urban_social", "城市建设与社会发展", sizeof "urban_social" - 1},
};
CODELIST(tl_codes_field, "field", field_codes, TL_FIELD_COUNT);

static const tl_code kind_codes[] = {
    [TL_KIND_ENTERPRISE] = {"enterprise", "企业", sizeof "enterprise" - 1},
    [TL_KIND_UNIVERSITY] = {"university", "高等院校", sizeof "university" - 1},
    [TL_KIND_RESEARCH_INSTITUTE] = {"research_institute", "科研机构", sizeof "research_institute" - 1},
    [TL_KIND_TECH_TRANSFER_AGENCY] = {"tech_transfer_agency", "技术转移机构", sizeof "tech_transfer_agency" - 1},
    [TL_KIND_FUND] = {"fund", "基金", sizeof "fund" - 1},
    [TL_KIND_BANK] = {"bank", "银行", sizeof "bank" - 1},
    [TL_KIND_REGISTRY] = {"registry", "技术合同登记机构", sizeof "registry" - 1},
    [TL_KIND_GOVERNMENT] = {"government", "政府部门", sizeof "government" - 1},
    [TL_KIND_INDIVIDUAL] = {"individual", "自然人", sizeof "individual" - 1},
    [TL_KIND_OTHER] = {"other", "其他", sizeof "other" - 1},
};
CODELIST(tl_codes_participant_kind, "kind", kind_codes, TL_KIND_COUNT);

static const tl_code role_codes[] = {
    [TL_ROLE_ADMIN] = {"admin", "管理员", sizeof "admin" - 1},
    [TL_ROLE_REGISTRY] = {"registry", "登记机构", sizeof "registry" - 1},
    [TL_ROLE_FUND_MANAGER] = {"fund_manager", "基金管理人", sizeof "fund_manager" - 1},
    [TL_ROLE_BANK] = {"bank", "合作银行", sizeof "bank" - 1},
    [TL_ROLE_MEMBER] = {"member", "成员", sizeof "member" - 1},
};
CODELIST(tl_codes_role, "role", role_codes, TL_ROLE_COUNT);

static const tl_code conf_codes[] = {
    [TL_CONF_PUBLIC] = {"public", "公开", sizeof "public" - 1},
    [TL_CONF_COMMERCIAL_SECRET] = {"commercial_secret", "商业秘密", sizeof "commercial_secret" - 1},
    [TL_CONF_STATE_SECRET] = {"state_secret", "国家秘密", sizeof "state_secret" - 1},
};
CODELIST(tl_codes_confidentiality, "confidentiality", conf_codes, TL_CONF_COUNT);

static const tl_code fund_kind_codes[] = {
    [TL_FUND_GUIDANCE] = {"guidance", "引导基金", sizeof "guidance" - 1},
    [TL_FUND_SUB_FUND] = {"sub_fund", "子基金", sizeof "sub_fund" - 1},
    [TL_FUND_LOCAL] = {"local", "地方基金", sizeof "local" - 1},
};
CODELIST(tl_codes_fund_kind, "fund kind", fund_kind_codes, TL_FUND_KIND_COUNT);

static const tl_code source_codes[] = {
    [TL_SOURCE_GUIDANCE] = {"guidance", "引导基金出资", sizeof "guidance" - 1},
    [TL_SOURCE_LOCAL_GOVERNMENT] = {"local_government", "地方政府出资", sizeof "local_government" - 1},
    [TL_SOURCE_SOCIAL] = {"social", "社会资本", sizeof "social" - 1},
    [TL_SOURCE_BANK] = {"bank", "银行", sizeof "bank" - 1},
};
CODELIST(tl_codes_fund_source, "source", source_codes, TL_SOURCE_COUNT);

static const tl_code level_codes[] = {
    [TL_LEVEL_NATIONAL] = {"national", "国家级", sizeof "national" - 1},
    [TL_LEVEL_PROVINCIAL] = {"provincial", "省级", sizeof "provincial" - 1},
    [TL_LEVEL_MUNICIPAL] = {"municipal", "市级", sizeof "municipal" - 1},
    [TL_LEVEL_COUNTY] = {"county", "县级", sizeof "county" - 1},
};
CODELIST(tl_codes_fund_level, "level", level_codes, TL_LEVEL_COUNT);
