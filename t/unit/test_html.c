/*
 * test_html.c - HTML reduced to visible text and links: what a reader sees,
 * entities, dropped scripts and styles, links with markup inside them, and
 * input that is broken or not HTML at all.
 */
#include "html.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

struct link_want {
    const char *text, *href;
};

struct html_case {
    const char *name;
    const char *html;
    const char *text; /* expected visible text */
    struct link_want links[3];
    size_t nlinks;
};

static const struct html_case cases[] = {
    {"plain text", "Beste klant, uw factuur.", "Beste klant, uw factuur.", {{0}}, 0},
    {"empty", "", "", {{0}}, 0},
    {"tags dropped", "<b>vet</b> en <i>schuin</i>", "vet en schuin", {{0}}, 0},
    {"whitespace collapsed", "  a \t\r\n  b   \n c  ", "a b c", {{0}}, 0},
    {"block elements",
     "<p>een</p><p>twee</p>drie<br>vier<div>vijf</div><ul><li>zes<li>zeven</ul>",
     "een\ntwee\ndrie\nvier\nvijf\nzes\nzeven",
     {{0}},
     0},
    {"headings and rows",
     "<h1>Titel</h1><table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr>"
     "</table><h6>eind</h6>",
     "Titel\na b\nc\neind",
     {{0}},
     0},
    {"named entities",
     "&amp; &lt;tag&gt; &quot;q&quot; &apos;a&apos; &copy; &euro;5 caf&eacute;",
     "& <tag> \"q\" 'a' \xc2\xa9 \xe2\x82\xac"
     "5 caf\xc3\xa9",
     {{0}},
     0},
    {"nbsp is a space", "1.234,56&nbsp;&nbsp;EUR", "1.234,56 EUR", {{0}}, 0},
    {"numeric entities",
     "&#8364; &#x20AC; &#X20ac; &#128; &#65;&#66",
     "\xe2\x82\xac \xe2\x82\xac "
     "\xe2\x82\xac \xe2\x82\xac AB",
     {{0}},
     0},
    {"bad numeric entities",
     "&#0; &#xD800; &#99999999999; &#; &#x;",
     "\xef\xbf\xbd \xef\xbf\xbd \xef\xbf\xbd &#; &#x;",
     {{0}},
     0},
    {"unknown and bare ampersands",
     "a & b &unknown; &amp c && d",
     "a & b &unknown; & c && d",
     {{0}},
     0},
    {"legacy entity without semicolon",
     "&copy2026 &lt3",
     "\xc2\xa9"
     "2026 <3",
     {{0}},
     0},
    {"invisible characters removed",
     "pa&shy;y&#x200B;p\xe2\x80\x8c"
     "al\xef\xbb\xbf",
     "paypal",
     {{0}},
     0},
    {"unicode spaces collapse",
     "a\xc2\xa0\xc2\xa0"
     "b\xe2\x80\x83"
     "c",
     "a b c",
     {{0}},
     0},
    {"utf-8 kept",
     "<p>Gr\xc3\xbc\xc3\x9f"
     "e \xe8\xab\x8b\xe6\xb1\x82</p>",
     "Gr\xc3\xbc\xc3\x9f"
     "e \xe8\xab\x8b\xe6\xb1\x82",
     {{0}},
     0},
    {"script and style removed",
     "<style type=text/css>p { color: red }</style>voor<script>document.write('<p>x</p>')"
     "</script>na<SCRIPT>if (a<b) x()</SCRIPT >eind",
     "voornaeind",
     {{0}},
     0},
    {"title removed",
     "<html><head><title>Factuur</title></head><body>Tekst</body></html>",
     "Tekst",
     {{0}},
     0},
    {"comments removed", "a<!-- <p>verborgen</p> -->b<!---->c<!-->d<!--->e", "abcde", {{0}}, 0},
    {"doctype and processing instructions",
     "<!DOCTYPE html><?xml version=\"1.0\"?>tekst",
     "tekst",
     {{0}},
     0},
    {"end tag with garbage", "a</p foo=bar>b</ 3>c</>d", "a\nbcd", {{0}}, 0},
    {"lone less-than", "3 < 4 and 5 <= 6 <", "3 < 4 and 5 <= 6 <", {{0}}, 0},
    {"attribute with greater-than in quotes",
     "<img alt=\"a > b\" title='c > d'>zichtbaar",
     "zichtbaar",
     {{0}},
     0},
    {"simple link",
     "<a href=\"https://example.nl/\">Klik</a>",
     "Klik",
     {{"Klik", "https://example.nl/"}},
     1},
    {"link with nested tags",
     "Zie <a href='https://x.example/f?a=1&amp;b=2'><img src=x><b>uw</b>"
     "\n<span>factuur</span></a>.",
     "Zie uw factuur.",
     {{"uw factuur", "https://x.example/f?a=1&b=2"}},
     1},
    {"quotes of both kinds",
     "<a title='say \"hi\"' href=\"http://a.example/'x'\">a</a>"
     "<a href='http://b.example/\"y\"' title=\"it's\">b</a>",
     "ab",
     {{"a", "http://a.example/'x'"}, {"b", "http://b.example/\"y\""}},
     2},
    {"unquoted and upper-case",
     "<A HREF=http://c.example/p?q=1 target=_blank>C</A>",
     "C",
     {{"C", "http://c.example/p?q=1"}},
     1},
    {"href entities and whitespace",
     "<a href=\"  ht&#10;tp://e.example/&euro;?a=1&copy=2  \">e</a>",
     "e",
     {{"e", "http://e.example/\xe2\x82\xac?a=1&copy=2"}},
     1},
    {"first href wins",
     "<a href=\"http://first.example/\" href=\"http://second.example/\">x</a>",
     "x",
     {{"x", "http://first.example/"}},
     1},
    {"anchor without href is no link", "<a name=top>boven</a>", "boven", {{0}}, 0},
    {"link around blocks",
     "<a href=\"http://l.example/\"><p>een</p><p>twee</p></a>",
     "een\ntwee",
     {{"een twee", "http://l.example/"}},
     1},
    {"image-only link",
     "<a href=\"http://img.example/\"><img src=\"b.png\"></a>tekst",
     "tekst",
     {{"", "http://img.example/"}},
     1},
    {"a closes a",
     "<a href=\"http://1.example/\">een<a href=\"http://2.example/\">twee</a>",
     "eentwee",
     {{"een", "http://1.example/"}, {"twee", "http://2.example/"}},
     2},
    {"unclosed link",
     "<a href=\"http://open.example/\">nooit gesloten",
     "nooit gesloten",
     {{"nooit gesloten", "http://open.example/"}},
     1},
    {"unclosed tag ends the document",
     "zichtbaar <p class=\"nooit dicht>onzichtbaar",
     "zichtbaar",
     {{0}},
     0},
    {"unclosed tag without quotes", "zichtbaar <div", "zichtbaar", {{0}}, 0},
    {"unclosed comment", "zichtbaar<!-- rest", "zichtbaar", {{0}}, 0},
    {"unclosed script", "zichtbaar<script>alert(1)", "zichtbaar", {{0}}, 0},
    {"unclosed link tag", "a<a href=\"http://x.example/", "a", {{0}}, 0},
    {"tag name with odd characters", "<scr<script>ipt>x</script>y", "ipt>xy", {{0}}, 0},
    {"self-closing and slashes", "a<br/>b<br />c<p/>d", "a\nb\nc\nd", {{0}}, 0},
    {"very long tag name",
     "a<abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz>b",
     "ab",
     {{0}},
     0},
};

/* test_cases - every case in the table */
static void
test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < SG_NELEM(cases); i++) {
        const struct html_case *tc = &cases[i];
        struct sg_html h;
        sg_html_parse(tc->html, strlen(tc->html), &h);
        if (strcmp(h.text, tc->text) != 0)
            fail_msg("%s: text \"%s\", want \"%s\"", tc->name, h.text, tc->text);
        assert_int_equal(h.text_len, strlen(h.text));
        if (h.nlinks != tc->nlinks)
            fail_msg("%s: %zu links, want %zu", tc->name, h.nlinks, tc->nlinks);
        for (size_t l = 0; l < tc->nlinks; l++) {
            if (strcmp(h.links[l].text, tc->links[l].text) != 0 ||
                strcmp(h.links[l].href, tc->links[l].href) != 0)
                fail_msg("%s: link %zu \"%s\" -> \"%s\", want \"%s\" -> \"%s\"", tc->name, l,
                         h.links[l].text, h.links[l].href, tc->links[l].text, tc->links[l].href);
        }
        sg_html_clear(&h);
        assert_null(h.text);
        assert_int_equal(h.nlinks, 0);
    }
}

/* test_not_nul_terminated - the input is a length, not a string: nothing past it is read */
static void
test_not_nul_terminated(void **state)
{
    (void)state;
    static const char *const inputs[] = {"<a href=\"x", "&#x20A", "&eur",        "<!--", "<script",
                                         "<",           "&",      "<a href=x>t", "</",   "<!"};
    for (size_t i = 0; i < SG_NELEM(inputs); i++) {
        size_t n = strlen(inputs[i]);
        char *exact = sg_xmalloc(n ? n : 1); /* no terminator: ASan sees any overread */
        memcpy(exact, inputs[i], n);
        struct sg_html h;
        sg_html_parse(exact, n, &h);
        assert_non_null(h.text);
        sg_html_clear(&h);
        free(exact);
    }
}

/* test_decode_entities - the attribute decoder on its own */
static void
test_decode_entities(void **state)
{
    (void)state;
    size_t len;
    const char *in = "a&amp;b&lt;&euro;&#x41;&copy=1&unknown;&";
    char *s = sg_html_decode_entities(in, strlen(in), &len);
    assert_string_equal(s, "a&b<\xe2\x82\xac"
                           "A&copy=1&unknown;&");
    assert_int_equal(len, strlen(s));
    free(s);
    s = sg_html_decode_entities("", 0, NULL);
    assert_string_equal(s, "");
    free(s);
}

/* xorshift - a small deterministic generator for garbage */
static unsigned
xorshift(unsigned *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* test_garbage - random bytes and random markup: no crash, text_len matches, links sane */
static void
test_garbage(void **state)
{
    (void)state;
    static const char *const atoms[] = {"<",        ">",    "&",    ";",   "\"",       "'",
                                        "<a href=", "</a>", "<!--", "-->", "<script>", "</script",
                                        "&#x",      "&amp", "=",    " ",   "<p>",      "\xc2",
                                        "\xe2\x80", "\0",   "x"};
    unsigned seed = 20260202;
    for (int round = 0; round < 2000; round++) {
        size_t n = xorshift(&seed) % 300;
        char *buf = sg_xmalloc(n * 10 + 1);
        size_t len = 0;
        for (size_t i = 0; i < n; i++) {
            if (round % 2) {
                buf[len++] = (char)(xorshift(&seed) & 0xFF);
            } else {
                const char *a = atoms[xorshift(&seed) % SG_NELEM(atoms)];
                size_t al = a[0] ? strlen(a) : 1;
                memcpy(buf + len, a, al);
                len += al;
            }
        }
        struct sg_html h;
        sg_html_parse(buf, len, &h);
        assert_non_null(h.text);
        assert_true(h.text_len <= len * 3 + 1);
        for (size_t l = 0; l < h.nlinks; l++) {
            assert_non_null(h.links[l].text);
            assert_non_null(h.links[l].href);
        }
        sg_html_clear(&h);
        free(buf);
    }
}

/* test_many_links - links past the limit are not listed */
static void
test_many_links(void **state)
{
    (void)state;
    size_t n = SG_HTML_MAX_LINKS + 10;
    const char *one = "<a href=\"h\">t</a>";
    char *buf = sg_xmalloc(n * strlen(one) + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(buf + i * strlen(one), one, strlen(one));
    struct sg_html h;
    sg_html_parse(buf, n * strlen(one), &h);
    assert_int_equal(h.nlinks, SG_HTML_MAX_LINKS);
    assert_int_equal(h.text_len, n);
    sg_html_clear(&h);
    sg_html_clear(NULL);
    free(buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),           cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_decode_entities), cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_many_links),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
