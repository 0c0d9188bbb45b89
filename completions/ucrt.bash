# bash completion for ucrt. The candidates come from `ucrt __complete`,
# which reads the option tables the commands' own parsers use, and the
# store for container and image names: nothing here to keep in step with
# the code. Installed by `make install` as
# $(PREFIX)/share/bash-completion/completions/ucrt.
_ucrt() {
	local cur=${COMP_WORDS[COMP_CWORD]} IFS=$'\n'
	local words
	words=$("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -o bashdefault -F _ucrt ucrt ucrt-oci
