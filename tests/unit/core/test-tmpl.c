/* Go-template subset over JSON: fields, functions, blocks, headers,
 * columns, and clear errors for what it refuses. */
#include "tests/lib/tap.h"
#include "tmpl.h"
#include "util.h"

#include <errno.h>

static const char data[] =
	"{\"ID\":\"abc123\",\"Names\":\"web\",\"Status\":\"Up 2 seconds\",\"Size\":1234,\"On\":true,"
	"\"Off\":false,\"Nil\":null,\"Empty\":\"\","
	"\"Config\":{\"Image\":\"alpine:3\",\"Labels\":{\"b\":\"2\",\"a\":\"1\"},\"Env\":[\"A=1\",\"B=2\"]},"
	"\"Mounts\":[{\"Source\":\"/s1\"},{\"Source\":\"/s2\"}], \"Esc\":\"q\\\"x\"}";

static struct json_doc doc;

/* The template's output on data, or "ERR: message". */
static char *run(const char *text)
{
	struct tmpl *t;
	struct err e = { 0 };
	struct buf b = BUF_INIT;

	buf_puts(&b, "");
	if (tmpl_parse(&t, text, &e) < 0) {
		buf_free(&b);
		return xasprintf("ERR: %s", err_msg(&e));
	}
	int r = tmpl_exec(t, &doc, 0, &b, &e);
	tmpl_free(t);
	if (r < 0) {
		buf_free(&b);
		return xasprintf("ERR: %s", err_msg(&e));
	}
	return buf_steal(&b);
}

static void is(const char *text, const char *want)
{
	char *got = run(text);
	if (!t_ok(strcmp(got, want) == 0, "%s", text))
		printf("#   got  '%s'\n#   want '%s'\n", got, want);
	free(got);
}

static void fails(const char *text, const char *needle)
{
	char *got = run(text);
	if (!t_ok(strncmp(got, "ERR: ", 5) == 0 && strstr(got, needle), "refused: %s", text))
		printf("#   got '%s', want an error with '%s'\n", got, needle);
	free(got);
}

static const char *hdr(const char *field, void *arg)
{
	return strcmp(field, "ID") == 0 ? "CONTAINER ID" : NULL;
}

int main(void)
{
	t_plan(45);
	if (json_parse(&doc, data, strlen(data), 1000) < 0)
		return 1;
	is("{{.ID}}", "abc123");
	is("id={{.ID}} name={{ .Names }}!", "id=abc123 name=web!");
	is("{{.Config.Image}}", "alpine:3");
	is("{{.Size}} {{.On}} {{.Nil}}", "1234 true <nil>");
	is("{{.Config.Env}}", "[A=1 B=2]");
	is("{{.Config.Labels}}", "map[a:1 b:2]");
	is("{{json .Config.Labels}}", "{\"b\":\"2\",\"a\":\"1\"}");
	is("{{json .Names}}", "\"web\"");
	is("{{json .Esc}}", "\"q\\\"x\"");
	is("{{.Esc}}", "q\"x");
	is("{{json .Mounts}}", "[{\"Source\":\"/s1\"},{\"Source\":\"/s2\"}]");
	is("{{.Config.Image | json}}", "\"alpine:3\"");
	is("{{index .Config.Labels \"a\"}}", "1");
	is("{{index .Config.Labels \"zz\"}}", "");
	is("{{index .Config.Env 1}}", "B=2");
	is("{{join .Config.Env \",\"}}", "A=1,B=2");
	is("{{upper .Names}}{{lower \"AbC\"}}", "WEBabc");
	is("{{len .Config.Env}} {{len .Names}}", "2 3");
	is("{{range .Mounts}}[{{.Source}}]{{end}}", "[/s1][/s2]");
	is("{{range .Config.Labels}}{{.}};{{end}}", "1;2;");
	is("{{range .Nil}}x{{else}}none{{end}}", "none");
	is("{{range .Mounts}}{{$.Names}}{{end}}", "webweb");
	is("{{if .On}}yes{{else}}no{{end}} {{if .Off}}yes{{else}}no{{end}}", "yes no");
	is("{{if .Empty}}a{{end}}{{if not .Empty}}b{{end}}", "b");
	is("{{if eq .Names \"web\"}}web{{end}}{{if ne .Size 1234}}x{{end}}", "web");
	is("{{with .Config}}{{.Image}}{{end}}", "alpine:3");
	is("a  {{- .Names -}}  b", "awebb");
	is("{{`raw\\t`}}", "raw\\t");
	is("{{\"q\\t\"}}", "q\t");
	is("no actions", "no actions");
	fails("{{.Nope}}", "no field 'Nope'");
	fails("{{.Names.Sub}}", "not an object");
	fails("{{.ID", "unclosed");
	fails("{{}}", "empty action");
	fails("{{if .On}}x", "missing {{end}}");
	fails("{{end}}", "without a block");
	fails("{{frob .ID}}", "unknown function 'frob'");
	fails("{{.ID .Names}}", "not a function");
	fails("{{\"abc}}", "unterminated");
	fails("{{range .Names}}x{{end}}", "range over");

	struct tmpl *t;
	struct buf b = BUF_INIT;
	tmpl_parse(&t, "{{.ID}}\t{{upper .Names}}\t{{json .}}\t{{.Config.Image}}", NULL);
	tmpl_header(t, hdr, NULL, &b);
	t_streq(b.data, "CONTAINER ID\tNAMES\t\tCONFIG", "header: names from the callback, else upper-cased");
	tmpl_free(t);

	struct buf o = BUF_INIT;
	const char tab[] = "CONTAINER ID\tNAMES\tX\nabc\tlonger-name\tz\nd\té\t\n";
	buf_puts(&o, "");
	tmpl_columns(tab, strlen(tab), 10, 3, &o);
	t_streq(o.data, "CONTAINER ID   NAMES         X\nabc            longer-name   z\nd              é             \n",
		"columns: widest cell + 3, at least 10, UTF-8 counted");
	buf_reset(&o);
	tmpl_columns("a\tb", 3, 0, 1, &o);
	t_streq(o.data, "a b", "columns: last line without a newline");
	char *u = tmpl_unescape("a\\tb\\nc\\x");
	t_streq(u, "a\tb\nc\\x", "unescape \\t and \\n only");
	free(u);
	buf_free(&b);
	buf_free(&o);
	char *big = xcalloc(1, 4000);
	for (int i = 0; i < 150; i++)
		strcat(big, "{{if .On}}");
	char *r = run(big);
	t_ok(strncmp(r, "ERR: ", 5) == 0, "deep nesting refused");
	free(r);
	free(big);
	json_free(&doc);
	return t_failed ? 1 : 0;
}
