package dev.pollen.monitoring;

import java.nio.charset.StandardCharsets;

/** What an endpoint answers: a status, the body's content type, the body. */
public record Answer(int status, String contentType, byte[] body) {
    public static final String TEXT = "text/plain; charset=utf-8";

    public Answer {
        body = body.clone();
    }

    /** A plain-text answer; a body that is one line ends with a newline, as curl users expect. */
    public static Answer text(int status, String body) {
        return new Answer(status, TEXT, (body.endsWith("\n") ? body : body + "\n").getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public byte[] body() {
        return body.clone();
    }
}
