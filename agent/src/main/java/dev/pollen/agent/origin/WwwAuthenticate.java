package dev.pollen.agent.origin;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The challenges of a {@code WWW-Authenticate} header (RFC 9110 §11.6.1): a scheme, then either auth-params
 * ({@code name=token} or {@code name="quoted"}, comma-separated) or a token68; several challenges may share
 * one header, separated by commas. A registry sends {@code Bearer realm="…",service="…",scope="…"} or
 * {@code Basic realm="…"}.
 */
public final class WwwAuthenticate {
    /** @param scheme lowercase ({@code bearer}, {@code basic}); parameter names lowercase too */
    public record Challenge(String scheme, Map<String, String> params) {
        public String param(String name) {
            return params.get(name);
        }

        /**
         * The url a Bearer challenge sends a client to for its token: the realm with the challenge's {@code scope}
         * (else {@code defaultScope}) and {@code service}, as the distribution token spec has it.
         */
        public String tokenUrl(String defaultScope) {
            String realm = param("realm");
            String scope = param("scope") != null ? param("scope") : defaultScope;
            StringBuilder url = new StringBuilder(realm).append(realm.contains("?") ? '&' : '?')
                    .append("scope=").append(URLEncoder.encode(scope, StandardCharsets.UTF_8));
            if (param("service") != null) {
                url.append("&service=").append(URLEncoder.encode(param("service"), StandardCharsets.UTF_8));
            }
            return url.toString();
        }
    }

    private final String text;
    private int pos;

    private WwwAuthenticate(String text) {
        this.text = text;
    }

    /** Every challenge of the header; unparseable rest is dropped, never thrown on (it comes from the network). */
    public static List<Challenge> parse(String header) {
        return header == null ? List.of() : new WwwAuthenticate(header).challenges();
    }

    private List<Challenge> challenges() {
        List<Challenge> out = new ArrayList<>();
        while (true) {
            skipSpaceAndCommas();
            String scheme = token();
            if (scheme.isEmpty()) {
                return out;
            }
            Map<String, String> params = new LinkedHashMap<>();
            out.add(new Challenge(scheme.toLowerCase(Locale.ROOT), params));
            while (true) {
                int mark = pos;
                skipSpace();
                String name = token();
                skipSpace();
                if (name.isEmpty() || pos >= text.length() || text.charAt(pos) != '=') {
                    // the next challenge's scheme (or a token68, which no registry sends: read as no parameters)
                    pos = mark;
                    break;
                }
                pos++;
                skipSpace();
                String value = pos < text.length() && text.charAt(pos) == '"' ? quoted() : bare();
                params.put(name.toLowerCase(Locale.ROOT), value);
                skipSpace();
                if (pos >= text.length() || text.charAt(pos) != ',') {
                    break;
                }
                pos++;
            }
            skipSpace();
            if (pos < text.length() && text.charAt(pos) != ',' && !isTokenChar(text.charAt(pos))) {
                return out;
            }
        }
    }

    private String token() {
        int start = pos;
        while (pos < text.length() && isTokenChar(text.charAt(pos))) {
            pos++;
        }
        return text.substring(start, pos);
    }

    /** An unquoted value: a token by the RFC, read leniently up to the next comma or space (some servers send bare URLs). */
    private String bare() {
        int start = pos;
        while (pos < text.length() && text.charAt(pos) != ',' && text.charAt(pos) != ' ' && text.charAt(pos) != '\t') {
            pos++;
        }
        return text.substring(start, pos);
    }

    private String quoted() {
        StringBuilder b = new StringBuilder();
        pos++;
        while (pos < text.length()) {
            char c = text.charAt(pos++);
            if (c == '"') {
                return b.toString();
            }
            if (c == '\\' && pos < text.length()) {
                c = text.charAt(pos++);
            }
            b.append(c);
        }
        return b.toString();
    }

    private void skipSpace() {
        while (pos < text.length() && (text.charAt(pos) == ' ' || text.charAt(pos) == '\t')) {
            pos++;
        }
    }

    private void skipSpaceAndCommas() {
        while (pos < text.length() && (text.charAt(pos) == ' ' || text.charAt(pos) == '\t' || text.charAt(pos) == ',')) {
            pos++;
        }
    }

    /** RFC 9110 tchar, plus '/' (token68); never '=', which ends a parameter name. */
    private static boolean isTokenChar(char c) {
        return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || "!#$%&'*+-.^_`|~/".indexOf(c) >= 0;
    }
}
