/* Domain values: regions, dates, ids, credit codes, money and the code lists. */
#include "testutil.h"

#include <stdint.h>
#include <string.h>

#include "tl_domain.h"
#include "tl_domain_tables.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static void test_regions(void **state)
{
    (void)state;
    uint32_t code = 0;
    assert_int_equal(tl_region_parse(&code, S("110000")), 0);
    assert_int_equal(code, 110000);
    assert_int_equal(tl_region_level_of(code), TL_REGION_PROVINCE);
    assert_int_equal(tl_region_parse(&code, S("440300")), 0); /* 深圳市 */
    assert_int_equal(tl_region_level_of(code), TL_REGION_CITY);
    assert_int_equal(tl_region_parse(&code, S("440305")), 0); /* 南山区 */
    assert_int_equal(tl_region_level_of(code), TL_REGION_COUNTY);
    assert_int_equal(tl_region_province(code), 44);
    assert_string_equal(tl_province_name_of(44), "广东省");
    assert_string_equal(tl_province_name_of(11), "北京市");
    assert_string_equal(tl_province_name_of(65), "新疆维吾尔自治区");
    assert_null(tl_province_name_of(10));
    assert_null(tl_province_name_of(99));
    assert_null(tl_province_name_of(7));
    assert_null(tl_province_name_of(1100));
    assert_true(tl_region_valid(S("110105")));
    assert_true(tl_region_valid(S("320583")));
    assert_true(tl_region_valid(S("500100")));

    code = 7;
    assert_int_equal(tl_region_parse(&code, S("119999")), TL_EINVAL); /* not in the tables */
    assert_int_equal(code, 7);                                         /* untouched */
    assert_false(tl_region_valid(S("000000")));
    assert_false(tl_region_valid(S("990000")));
    assert_false(tl_region_valid(S("11000")));   /* five digits */
    assert_false(tl_region_valid(S("1100000"))); /* seven */
    assert_false(tl_region_valid(S("11000a")));
    assert_false(tl_region_valid(S(" 11000")));
    assert_false(tl_region_valid(S("+11000")));
    assert_false(tl_region_valid(S("")));
    assert_false(tl_region_valid("110000\0", 7));

    /* The generated table is sorted, every entry is found, and each one's province is known. */
    assert_true(tl_region_codes_count > 3000);
    for (size_t i = 0; i < tl_region_codes_count; i++) {
        if (i > 0)
            assert_true(tl_region_codes[i - 1] < tl_region_codes[i]);
        assert_true(tl_region_code_known(tl_region_codes[i]));
        assert_non_null(tl_province_name_of(tl_region_province(tl_region_codes[i])));
        /* One past each code is either the next code or unknown: the search does not match
         * neighbours. */
        uint32_t next = tl_region_codes[i] + 1;
        if (i + 1 == tl_region_codes_count || tl_region_codes[i + 1] != next)
            assert_false(tl_region_code_known(next));
    }
    assert_false(tl_region_code_known(0));
    assert_false(tl_region_code_known(UINT32_MAX));
    assert_int_equal(tl_province_names_count, 31);
}

static void test_dates(void **state)
{
    (void)state;
    int32_t day = 12345;
    assert_int_equal(tl_date_parse(&day, S("1970-01-01")), 0);
    assert_int_equal(day, 0);
    assert_int_equal(tl_date_parse(&day, S("2000-01-01")), 0);
    assert_int_equal(day, 10957);
    assert_int_equal(tl_date_parse(&day, S("1949-01-01")), 0);
    assert_int_equal(day, -7670); /* 21 years back, 5 of them leap (1952..1968) */
    assert_int_equal(tl_date_parse(&day, S("2019-12-31")), 0);
    assert_int_equal(day, 18261);
    assert_int_equal(tl_date_year(day), 2019);

    /* Leap years: every 4th, not every 100th, but every 400th. */
    assert_true(tl_leap_year(2000));
    assert_false(tl_leap_year(1900));
    assert_false(tl_leap_year(2100));
    assert_true(tl_leap_year(2020));
    assert_false(tl_leap_year(2019));
    assert_true(tl_date_valid(S("2000-02-29")));
    assert_true(tl_date_valid(S("2020-02-29")));
    assert_true(tl_date_valid(S("2096-02-29")));
    assert_false(tl_date_valid(S("2019-02-29")));
    assert_false(tl_date_valid(S("2021-02-29")));
    assert_true(tl_date_valid(S("2021-02-28")));
    assert_false(tl_date_valid(S("2021-04-31")));
    assert_true(tl_date_valid(S("2021-12-31")));
    assert_false(tl_date_valid(S("2021-13-01")));
    assert_false(tl_date_valid(S("2021-00-10")));
    assert_false(tl_date_valid(S("2021-01-00")));
    assert_false(tl_date_valid(S("2021-01-32")));

    /* Range and shape. */
    assert_true(tl_date_valid(S("2099-12-31")));
    assert_false(tl_date_valid(S("2100-01-01")));
    assert_false(tl_date_valid(S("1948-12-31")));
    assert_false(tl_date_valid(S("2021-1-01")));
    assert_false(tl_date_valid(S("2021-01-1")));
    assert_false(tl_date_valid(S("2021/01/01")));
    assert_false(tl_date_valid(S("20210101")));
    assert_false(tl_date_valid(S("2021-01-01T00:00")));
    assert_false(tl_date_valid(S("2021-01-01 ")));
    assert_false(tl_date_valid(S("+021-01-01")));
    assert_false(tl_date_valid(S("2021-+1-01")));
    assert_false(tl_date_valid(S("")));
    day = 99;
    assert_int_equal(tl_date_parse(&day, S("2021-02-30")), TL_EINVAL);
    assert_int_equal(day, 99);

    /* Every day of the range round-trips through format and parse, consecutive days are one
     * apart, and the calendar agrees with a naive month walk. */
    int32_t first, last;
    assert_int_equal(tl_date_parse(&first, S("1949-01-01")), 0);
    assert_int_equal(tl_date_parse(&last, S("2099-12-31")), 0);
    int y = 1949;
    unsigned m = 1, d = 1;
    static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int32_t k = first; k <= last; k++) {
        char text[TL_DATE_LEN + 1];
        tl_date_format(text, k);
        int32_t back;
        assert_int_equal(tl_date_parse(&back, text, strlen(text)), 0);
        assert_int_equal(back, k);
        int yy;
        unsigned mm, dd;
        tl_date_ymd(k, &yy, &mm, &dd);
        assert_int_equal(yy, y);
        assert_int_equal(mm, m);
        assert_int_equal(dd, d);
        unsigned len = mdays[m - 1] + ((m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 1u : 0u);
        if (++d > len) {
            d = 1;
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
    }
    assert_int_equal(y, 2100);
    char text[TL_DATE_LEN + 1];
    tl_date_format(text, 18261);
    assert_string_equal(text, "2019-12-31");
}

static void test_ids(void **state)
{
    (void)state;
    assert_true(tl_id_valid(S("tsinghua")));
    assert_true(tl_id_valid(S("a")));
    assert_true(tl_id_valid(S("fund.guidance-2021_01")));
    assert_true(tl_id_valid(S("...")));
    assert_true(tl_id_valid(S(".hidden")));
    assert_false(tl_id_valid(S(".")));
    assert_false(tl_id_valid(S("..")));
    assert_false(tl_id_valid(S("")));
    assert_false(tl_id_valid(S("Tsinghua")));
    assert_false(tl_id_valid(S("a/b")));
    assert_false(tl_id_valid(S("a b")));
    assert_false(tl_id_valid(S("a:b")));
    assert_false(tl_id_valid(S("清华")));
    assert_false(tl_id_valid("a\0b", 3));
    char id[TL_ID_BYTES_MAX + 2];
    memset(id, 'x', sizeof id);
    assert_true(tl_id_valid(id, TL_ID_BYTES_MAX));
    assert_false(tl_id_valid(id, TL_ID_BYTES_MAX + 1));

    assert_true(tl_reg_no_valid(S("2019110108000123")));
    assert_false(tl_reg_no_valid(S("201911010800012")));
    assert_false(tl_reg_no_valid(S("20191101080001234")));
    assert_false(tl_reg_no_valid(S("2019110108000l23")));
    assert_false(tl_reg_no_valid(S("")));
}

/* An independent derivation of the check character: the weights are 3^(i-1) mod 31, and the
 * value of a character is its position in the alphabet. */
static char reference_check(const char *first17)
{
    static const char alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    unsigned w = 1, sum = 0;
    for (int i = 0; i < 17; i++) {
        const char *p = strchr(alphabet, first17[i]);
        assert_non_null(p);
        sum += (unsigned)(p - alphabet) * w;
        w = w * 3 % 31;
    }
    return alphabet[(31 - sum % 31) % 31];
}

static void test_credit_codes(void **state)
{
    (void)state;
    /* Published codes of well-known companies (Huawei, Alibaba, Tencent, Xiaomi). */
    const char *real[] = {"914403001922038216", "91330100716105852F", "9144030071526726XG",
                          "91110108551385082Q"};
    for (size_t i = 0; i < sizeof real / sizeof real[0]; i++) {
        assert_int_equal(tl_credit_code_check(real[i], 18), TL_CREDIT_CODE_OK);
        assert_int_equal(reference_check(real[i]), real[i][17]);
        assert_int_equal(tl_credit_code_check_char(real[i]), real[i][17]);
    }

    /* Codes built here: the check character computed independently. */
    const char *bodies[] = {"12100000400000624", "52110000500018938", "91310000MA1FL1MMX",
                            "00000000000000000", "YYYYYYYYYYYYYYYYY", "11110000MB0000001"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        char code[19];
        memcpy(code, bodies[i], 17);
        code[17] = reference_check(bodies[i]);
        code[18] = '\0';
        assert_true(tl_credit_code_valid(code, 18));
        /* Every other check character is refused. */
        static const char alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
        for (const char *c = alphabet; *c; c++) {
            if (*c == code[17])
                continue;
            char bad[19];
            memcpy(bad, code, sizeof bad);
            bad[17] = *c;
            assert_int_equal(tl_credit_code_check(bad, 18), TL_CREDIT_CODE_CHECK);
        }
        /* A single changed character in the body is caught (the weights are all non-zero
         * mod 31, a prime, so any one substitution changes the sum). */
        for (int pos = 0; pos < 17; pos++) {
            char bad[19];
            memcpy(bad, code, sizeof bad);
            bad[pos] = bad[pos] == '1' ? '2' : '1';
            assert_false(tl_credit_code_valid(bad, 18));
        }
    }

    /* Check = 0 case: 31 - (sum mod 31) = 31 maps to '0'. "00000000000000000" sums to 0. */
    assert_int_equal(tl_credit_code_check_char("00000000000000000"), '0');

    assert_int_equal(tl_credit_code_check(S("91440300192203821")), TL_CREDIT_CODE_LENGTH);
    assert_int_equal(tl_credit_code_check(S("9144030019220382160")), TL_CREDIT_CODE_LENGTH);
    assert_int_equal(tl_credit_code_check(S("")), TL_CREDIT_CODE_LENGTH);
    /* The letters the standard leaves out (I, O, S, V, Z) and lower case. */
    assert_int_equal(tl_credit_code_check(S("91440300192203821I")), TL_CREDIT_CODE_ALPHABET);
    assert_int_equal(tl_credit_code_check(S("9144030019220382O6")), TL_CREDIT_CODE_ALPHABET);
    assert_int_equal(tl_credit_code_check(S("914403001922038S16")), TL_CREDIT_CODE_ALPHABET);
    assert_int_equal(tl_credit_code_check(S("91440300192203V216")), TL_CREDIT_CODE_ALPHABET);
    assert_int_equal(tl_credit_code_check(S("9144030019220Z8216")), TL_CREDIT_CODE_ALPHABET);
    assert_int_equal(tl_credit_code_check(S("91330100716105852f")), TL_CREDIT_CODE_ALPHABET);
    assert_int_equal(tl_credit_code_check("91440300192203821\0", 18), TL_CREDIT_CODE_ALPHABET);
    assert_int_equal(tl_credit_code_check_char("9144030019220382\0"), 0);
    /* Known-bad: plausible-looking codes with a wrong check character. */
    assert_int_equal(tl_credit_code_check(S("914403001922038217")), TL_CREDIT_CODE_CHECK);
    assert_int_equal(tl_credit_code_check(S("91110000100003962T")), TL_CREDIT_CODE_CHECK);
}

static void test_money(void **state)
{
    (void)state;
    assert_true(tl_amount_valid(0));
    assert_true(tl_amount_valid(TL_AMOUNT_FEN_MAX));
    assert_false(tl_amount_valid(TL_AMOUNT_FEN_MAX + 1));
    assert_false(tl_amount_valid(UINT64_MAX));
    /* The invariants the header promises. */
    assert_true(TL_AMOUNT_FEN_MAX < (1ull << 50));
    assert_true(TL_AMOUNT_FEN_MAX * 9223u <= (uint64_t)INT64_MAX);
    assert_true(TL_AMOUNT_FEN_MAX * 9224u > (uint64_t)INT64_MAX);
    assert_true((double)TL_AMOUNT_FEN_MAX == 1e15);

    int64_t acc = 0;
    for (int i = 0; i < 9223; i++)
        assert_int_equal(tl_amount_add(&acc, (int64_t)TL_AMOUNT_FEN_MAX), 0);
    int64_t before = acc;
    assert_int_equal(tl_amount_add(&acc, (int64_t)TL_AMOUNT_FEN_MAX), TL_ETOOBIG);
    assert_true(acc == before);
    assert_int_equal(tl_amount_add(&acc, -(int64_t)TL_AMOUNT_FEN_MAX), 0);
    acc = INT64_MIN;
    assert_int_equal(tl_amount_add(&acc, -1), TL_ETOOBIG);
    assert_int_equal(tl_amount_add(NULL, 1), TL_EINVAL);

    assert_true(tl_amount_mul_ppm(TL_AMOUNT_FEN_MAX, TL_PPM_MAX) == TL_AMOUNT_FEN_MAX);
    assert_true(tl_amount_mul_ppm(TL_AMOUNT_FEN_MAX, 300000) == 300000000000000ull);
    assert_true(tl_amount_mul_ppm(999999, 1) == 0);     /* floor */
    assert_true(tl_amount_mul_ppm(1000001, 999999) == 999999 + 0); /* 1000001*999999/1e6 = 999999.999998 */
    assert_true(tl_amount_mul_ppm(123456789, 500000) == 61728394); /* floor(61728394.5) */
    assert_true(tl_amount_mul_ppm(0, 1000000) == 0);
    /* Against exact 128-bit arithmetic on a spread of values. */
    __extension__ typedef unsigned __int128 u128;
    uint64_t a = 1;
    for (int i = 0; i < 2000; i++) {
        a = (a * 6364136223846793005ull + 1442695040888963407ull);
        uint64_t amount = a % (TL_AMOUNT_FEN_MAX + 1);
        uint32_t ppm = (uint32_t)((a >> 20) % (TL_PPM_MAX + 1));
        u128 exact = (u128)amount * ppm / 1000000u;
        assert_true(tl_amount_mul_ppm(amount, ppm) == (uint64_t)exact);
    }
    assert_true(tl_ppm_valid(0));
    assert_true(tl_ppm_valid(1000000));
    assert_false(tl_ppm_valid(1000001));
}

static void check_list(const tl_codelist *list, size_t count, const char *first, const char *last)
{
    assert_int_equal(list->count, count);
    assert_string_equal(tl_code_name(list, 0), first);
    assert_string_equal(tl_code_name(list, (int)count - 1), last);
    assert_null(tl_code_name(list, (int)count));
    assert_null(tl_code_name(list, -1));
    for (size_t i = 0; i < count; i++) {
        const char *name = tl_code_name(list, (int)i);
        assert_non_null(name);
        assert_non_null(tl_code_name_zh(list, (int)i));
        assert_int_equal(list->codes[i].len, strlen(name));
        assert_int_equal(tl_code_parse(list, name, strlen(name)), (int)i);
        /* A prefix or an extension of a name is not that name. */
        assert_int_not_equal(tl_code_parse(list, name, strlen(name) - 1), (int)i);
        char longer[64];
        size_t n = strlen(name);
        assert_true(n + 1 < sizeof longer);
        memcpy(longer, name, n);
        longer[n] = 'x';
        assert_int_not_equal(tl_code_parse(list, longer, n + 1), (int)i);
        longer[n] = '\0'; /* a string may hold a NUL: the name followed by one is not the name */
        assert_int_not_equal(tl_code_parse(list, longer, n + 1), (int)i);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(tl_code_name(list, (int)j), name);
    }
    assert_int_equal(tl_code_parse(list, S("")), -1);
    assert_int_equal(tl_code_parse(list, S("nonsense")), -1);
}

static void test_code_lists(void **state)
{
    (void)state;
    check_list(&tl_codes_class, 5, "development", "service");
    check_list(&tl_codes_subtype, 17, "commissioned", "intermediary");
    check_list(&tl_codes_field, 11, "electronic_information", "urban_social");
    check_list(&tl_codes_participant_kind, 10, "enterprise", "other");
    check_list(&tl_codes_role, 5, "admin", "member");
    check_list(&tl_codes_confidentiality, 3, "public", "state_secret");
    check_list(&tl_codes_fund_kind, 3, "guidance", "local");
    check_list(&tl_codes_fund_source, 4, "guidance", "bank");
    check_list(&tl_codes_fund_level, 4, "national", "county");

    assert_int_equal(tl_code_parse(&tl_codes_class, S("license")), TL_CLASS_LICENSE);
    assert_int_equal(tl_code_parse(&tl_codes_class, S("License")), -1);
    assert_int_equal(tl_code_parse(&tl_codes_field, S("biomedicine")), TL_FIELD_BIOMEDICINE);
    assert_string_equal(tl_code_name_zh(&tl_codes_field, TL_FIELD_NEW_MATERIALS), "新材料及其应用");
    assert_string_equal(tl_code_name_zh(&tl_codes_field, TL_FIELD_URBAN_SOCIAL), "城市建设与社会发展");
    assert_int_equal(tl_code_parse(&tl_codes_role, S("fund_manager")), TL_ROLE_FUND_MANAGER);
    assert_int_equal(tl_code_parse(&tl_codes_participant_kind, S("tech_transfer_agency")),
                     TL_KIND_TECH_TRANSFER_AGENCY);
    assert_int_equal(tl_code_parse(&tl_codes_confidentiality, S("commercial_secret")),
                     TL_CONF_COMMERCIAL_SECRET);
    assert_int_equal(tl_code_parse(&tl_codes_fund_source, S("local_government")),
                     TL_SOURCE_LOCAL_GOVERNMENT);
    assert_int_equal(tl_code_parse(&tl_codes_fund_kind, S("sub_fund")), TL_FUND_SUB_FUND);

    /* The class of each subtype, exactly as the catalogue lists them. */
    static const struct {
        const char *sub, *cls;
    } pairs[] = {
        {"commissioned", "development"}, {"cooperative", "development"},
        {"patent", "transfer"},          {"patent_application", "transfer"},
        {"technical_secret", "transfer"}, {"other_ip", "transfer"},
        {"patent_license", "license"},   {"secret_license", "license"},
        {"other_license", "license"},    {"feasibility", "consulting"},
        {"forecast", "consulting"},      {"survey", "consulting"},
        {"assessment", "consulting"},    {"other", "consulting"},
        {"general", "service"},          {"training", "service"},
        {"intermediary", "service"},
    };
    assert_int_equal(sizeof pairs / sizeof pairs[0], TL_SUB_COUNT);
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        int sub = tl_code_parse(&tl_codes_subtype, pairs[i].sub, strlen(pairs[i].sub));
        assert_true(sub >= 0);
        assert_string_equal(tl_code_name(&tl_codes_class, (int)tl_subtype_class((tl_contract_subtype)sub)),
                            pairs[i].cls);
    }
    assert_int_equal(tl_subtype_class(TL_SUB_COUNT), TL_CLASS_COUNT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regions),      cmocka_unit_test(test_dates),
        cmocka_unit_test(test_ids),          cmocka_unit_test(test_credit_codes),
        cmocka_unit_test(test_money),        cmocka_unit_test(test_code_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
