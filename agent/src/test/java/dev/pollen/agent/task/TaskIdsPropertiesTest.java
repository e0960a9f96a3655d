package dev.pollen.agent.task;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/** The task id of any request: 64 hex digits or INVALID_ARGUMENT, and filtering behaves like a set operation. */
class TaskIdsPropertiesTest {
    @Property
    void anyRequestGivesAHexIdOrInvalidArgument(@ForAll("urls") String url, @ForAll("maybeStrings") String tag,
                                                @ForAll("maybeStrings") String application, @ForAll("pieceLengths") Long pieceLength,
                                                @ForAll("names") Set<String> filtered) {
        try {
            String id = new TaskSpec(url, tag, application, pieceLength, filtered, Map.of()).taskId();
            assertThat(id).matches("[0-9a-f]{64}");
        } catch (PollenException e) {
            assertThat(e.code()).as(e.getMessage()).isEqualTo(ErrorCode.INVALID_ARGUMENT);
        }
    }

    /** A signed URL's signature may sit anywhere in its query: the id is the one of the URL without it. */
    @Property
    void whereFilteredParamsSitInTheQueryDoesNotMatter(@ForAll("pairs") List<String> kept, @ForAll("names") Set<String> filtered,
                                                       @ForAll("positions") List<Integer> positions, @ForAll("values") String value) {
        List<String> keptOnly = kept.stream().filter(p -> !filtered.contains(nameOf(p))).toList();
        List<String> mixed = new ArrayList<>(keptOnly);
        int i = 0;
        for (String name : filtered) {
            int at = positions.isEmpty() ? 0 : Math.floorMod(positions.get(i++ % positions.size()), mixed.size() + 1);
            mixed.add(at, name + "=" + value);
        }
        assertThat(TaskIds.filterQuery(url(mixed), filtered)).isEqualTo(TaskIds.filterQuery(url(keptOnly), filtered));
    }

    @Property
    void filteringAParamThatIsAbsentChangesNothing(@ForAll("queries") String query, @ForAll("names") Set<String> filtered) {
        String url = "http://h/p?" + query;
        Set<String> absent = new HashSet<>(filtered);
        int hash = query.indexOf('#');
        for (String pair : (hash < 0 ? query : query.substring(0, hash)).split("&")) {
            absent.remove(nameOf(pair));
        }
        assertThat(TaskIds.filterQuery(url, absent)).isEqualTo(TaskIds.filterQuery(url, Set.of()));
    }

    @Property
    void filteringTwiceIsFilteringOnce(@ForAll("queries") String query, @ForAll("names") Set<String> filtered) {
        String once = TaskIds.filterQuery("http://h/p?" + query, filtered);
        assertThat(TaskIds.filterQuery(once, filtered)).isEqualTo(once);
    }

    /** Found by {@link #filteringAParamThatIsAbsentChangesNothing}: a bare '?' was dropped only when some filter was named. */
    @Example
    void aFilterTheUrlLacksKeepsItsId() {
        assertThat(new TaskSpec("http://h/p?", null, null, null, Set.of("sig"), Map.of()).taskId())
                .isEqualTo(new TaskSpec("http://h/p?", null, null, null, Set.of(), Map.of()).taskId());
        assertThat(TaskIds.filterQuery("http://h/p?a=1&&b", Set.of("sig"))).isEqualTo("http://h/p?a=1&&b");
    }

    /** Found by {@link #filteringTwiceIsFilteringOnce}: a '?' in the fragment was taken for the query. */
    @Example
    void aQuestionMarkInTheFragmentIsNoQuery() {
        assertThat(TaskIds.filterQuery("http://h/p#sec?sig=1", Set.of("sig"))).isEqualTo("http://h/p#sec?sig=1");
        assertThat(TaskIds.filterQuery("http://h/p?sig=1&a#x?sig=2", Set.of("sig"))).isEqualTo("http://h/p?a#x?sig=2");
    }

    private static String nameOf(String pair) {
        int eq = pair.indexOf('=');
        return eq < 0 ? pair : pair.substring(0, eq);
    }

    private static String url(List<String> pairs) {
        return "http://h/p" + (pairs.isEmpty() ? "" : "?" + String.join("&", pairs));
    }

    @Provide
    Arbitrary<String> urls() {
        Arbitrary<String> scheme = Arbitraries.of("http://", "https://", "HTTP://", "ftp://", "", "http:", "http:///", "file:/");
        Arbitrary<String> host = Arbitraries.of("h", "example.com", "127.0.0.1", "[::1]", "[fe80::1%25eth0]", "", "a b", "h:99999", "h:-1",
                "user@h", "%zz");
        return Arbitraries.oneOf(
                Combinators.combine(scheme, host, Arbitraries.strings().ofMaxLength(20), queries(), Arbitraries.strings().ofMaxLength(5))
                        .as((s, h, path, q, frag) -> s + h + "/" + path + "?" + q + "#" + frag),
                Arbitraries.strings().ofMaxLength(40),
                Arbitraries.just(null));
    }

    /** Query strings as they come: empty pairs, names without values, stray '?', '=' and '#'. */
    @Provide
    Arbitrary<String> queries() {
        return Arbitraries.oneOf(
                Arbitraries.strings().withChars("ab=&?#%").ofMaxLength(12),
                pairs().map(p -> String.join("&", p)),
                Arbitraries.strings().ofMaxLength(12));
    }

    @Provide
    Arbitrary<List<String>> pairs() {
        return Combinators.combine(names().flatMap(Arbitraries::of), values(),
                        Arbitraries.of(true, false))
                .as((n, v, withValue) -> withValue ? n + "=" + v : n).list().ofMaxSize(5);
    }

    @Provide
    Arbitrary<String> values() {
        return Arbitraries.strings().withChars("xyz%20+=").ofMaxLength(4);
    }

    @Provide
    Arbitrary<Set<String>> names() {
        return Arbitraries.strings().withChars("abcXS-_").ofMinLength(1).ofMaxLength(3).set().ofMinSize(1).ofMaxSize(3);
    }

    @Provide
    Arbitrary<List<Integer>> positions() {
        return Arbitraries.integers().list().ofMaxSize(3);
    }

    @Provide
    Arbitrary<String> maybeStrings() {
        return Arbitraries.strings().ofMaxLength(10).injectNull(0.3);
    }

    @Provide
    Arbitrary<Long> pieceLengths() {
        return Arbitraries.oneOf(Arbitraries.longs(), Arbitraries.of(0L, 1L, PieceLengths.MIN, PieceLengths.MAX, PieceLengths.MAX + 1))
                .injectNull(0.3);
    }
}
