/* Removing a partial output when llm-convert or llm-quantize is stopped by
 * SIGINT, SIGTERM or SIGHUP. The library writes the output to a temporary
 * file and renames it once complete, and tells its temp hook which file
 * that is (llm_temp_fn); the tool keeps the path where its signal handler
 * can reach it, and the handler unlinks it and ends the process by the
 * same signal. The library itself installs no handlers. */
#ifndef LLM_TOOLS_TEMPCLEAN_H
#define LLM_TOOLS_TEMPCLEAN_H

/* Installs the handlers; call once, before the conversion starts. */
void tempclean_install(void);
/* An llm_temp_fn (ud unused): records the temporary file, or its end. */
void tempclean_hook(void *ud, const char *tmp_path);

#endif
