/*
 * kg's reasoning server: HermiT, as bundled with owlready2 (with the OWL API it contains), in one long-lived
 * JVM. kg/reason.py compiles this file against HermiT.jar into a cache folder keyed by its hash, starts one
 * server per worker and talks to it over standard input and output, one frame after another:
 *
 *   request   <kind> <byte count>\n<bytes>
 *   response  <status> <byte count>\n<bytes>        status: ready, ok, inconsistent or error (bytes: a message)
 *
 *   O  the ontology (N-Triples), once, first                                     -> ready
 *   S  shared facts (N-Triples, e.g. the registry), at most once, after O         -> ready
 *   B  what the ontology and the shared facts entail                             -> ok (lines) | inconsistent
 *   I  a unit of facts (N-Triples): what ontology + shared + unit entail         -> ok (lines) | inconsistent
 *   K  a unit of facts: is ontology + shared + unit consistent?                  -> ok | inconsistent
 *   M  several units, each framed as `<byte count>\n<bytes>`: I for each         -> ok, whose bytes are one
 *      `<status> <byte count>\n<bytes>` per unit, in order (status ok, inconsistent or error)
 *   Q  (or end of input) stop
 *
 * An answer's lines are N-Triples, `<s> <p> <o> .`: every named class assertion and object property value
 * HermiT entails for a named individual, closed over the class and property hierarchies HermiT reports,
 * exactly what kg.reason read from HermiT's command line (`-c -O -I -Y --ignoreUnsupportedDatatypes`, whose
 * output this program produces in memory with the same calls and reads with the same regular expressions).
 * When shared facts were given, answers to I and M leave out what B says (kg.reason subtracts what the
 * shared facts entail from them anyway, and drops the rest of B's answer: vocabulary, shared or ontology
 * triples); without them, they include what B says about the components the unit does not reach (see 2.).
 *
 * What makes it fast, and why each step changes nothing in the answer (kg.reason's docstring says more):
 *
 * 1. One JVM, and the ontology parsed once: each unit is parsed (with the OWL API's Turtle parser, as the
 *    command line read the .nt file) into an ontology that already holds the ontology's and the shared
 *    facts' axioms, so every term is read as it was when everything was one file; the changes are undone
 *    after the unit.
 * 2. Only the connected components of the ontology's and the shared facts' ABox that the unit touches are
 *    reasoned over with it, when the ontology has no nominals (ObjectOneOf, ObjectHasValue), keys, rules or
 *    universal role. A consistent ABox whose parts share no individual is the disjoint union of its parts:
 *    a part's entailments are those of the part alone. The others' are the B answer.
 * 3. Several units (M) in one HermiT run: each unit's individuals, its own and those of its copy of the
 *    components it reaches, are renamed apart (urn:kg-unit:<n>:<IRI>), so the run is over the disjoint
 *    union of the units' ABoxes and each unit's entailments are read back by undoing the renaming. This
 *    shares classifying the ontology among the units. A unit with class or property axioms, anonymous
 *    individuals or individuals HermiT abbreviates (standard namespaces) is reasoned over alone, and so is
 *    every unit of a run that turns out inconsistent.
 * 4. Property chains (and transitivity) are not given to HermiT, when the ontology is in the fragment where
 *    that is exact (named classes and their Boolean combinations, property hierarchies, inverses,
 *    functionality, chains of two, no existential or universal restriction, cardinality, nominal, key or
 *    self restriction) and the unit has no anonymous individual: the chain's values are computed from the
 *    values HermiT reports, added as assertions, and HermiT is run again until the chain adds nothing (a
 *    fixpoint, usually reached by the first run since the chain is first applied to the asserted values).
 *    In that fragment no axiom creates an individual or a property value from a class, so the values and
 *    equalities are a closure of the assertions, and that closure is the same with the chain as with the
 *    chain's values asserted. HermiT's realisation of non-simple properties (an extra axiom per individual
 *    and chained property) is what made a unit cost 10 times more.
 * Annotation assertions are left out of what HermiT sees: they mean nothing to it and name no individual.
 *
 * Nothing but frames is written to standard output (System.out is redirected to standard error).
 */

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.semanticweb.HermiT.Configuration;
import org.semanticweb.HermiT.Reasoner;
import org.semanticweb.owlapi.apibinding.OWLManager;
import org.semanticweb.owlapi.io.StreamDocumentSource;
import org.semanticweb.owlapi.model.AddAxiom;
import org.semanticweb.owlapi.model.AddImport;
import org.semanticweb.owlapi.model.AddOntologyAnnotation;
import org.semanticweb.owlapi.model.AxiomType;
import org.semanticweb.owlapi.model.ClassExpressionType;
import org.semanticweb.owlapi.model.IRI;
import org.semanticweb.owlapi.model.OWLAxiom;
import org.semanticweb.owlapi.model.OWLClass;
import org.semanticweb.owlapi.model.OWLClassAssertionAxiom;
import org.semanticweb.owlapi.model.OWLClassExpression;
import org.semanticweb.owlapi.model.OWLDataFactory;
import org.semanticweb.owlapi.model.OWLEntity;
import org.semanticweb.owlapi.model.OWLIndividual;
import org.semanticweb.owlapi.model.OWLNamedIndividual;
import org.semanticweb.owlapi.model.OWLObjectProperty;
import org.semanticweb.owlapi.model.OWLObjectPropertyExpression;
import org.semanticweb.owlapi.model.OWLOntology;
import org.semanticweb.owlapi.model.OWLOntologyChange;
import org.semanticweb.owlapi.model.OWLOntologyChangeListener;
import org.semanticweb.owlapi.model.OWLOntologyLoaderConfiguration;
import org.semanticweb.owlapi.model.OWLOntologyManager;
import org.semanticweb.owlapi.model.OWLSubPropertyChainOfAxiom;
import org.semanticweb.owlapi.model.OWLTransitiveObjectPropertyAxiom;
import org.semanticweb.owlapi.model.RemoveAxiom;
import org.semanticweb.owlapi.model.RemoveImport;
import org.semanticweb.owlapi.model.RemoveOntologyAnnotation;
import org.semanticweb.owlapi.model.SetOntologyID;
import org.semanticweb.owlapi.reasoner.InconsistentOntologyException;
import org.semanticweb.owlapi.reasoner.InferenceType;
import org.semanticweb.owlapi.reasoner.Node;

import org.semanticweb.owlapi.util.EscapeUtils;
import org.semanticweb.owlapi.util.OWLObjectDuplicator;

import org.coode.owlapi.turtle.TurtleOntologyFormat;

import uk.ac.manchester.cs.owl.owlapi.turtle.parser.OWLRDFConsumerAdapter;
import uk.ac.manchester.cs.owl.owlapi.turtle.parser.TurtleOntologyParser;
import uk.ac.manchester.cs.owl.owlapi.turtle.parser.TurtleParser;

public final class KgReasoner {
    private static final String OWL = "http://www.w3.org/2002/07/owl#";
    private static final String RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type";
    private static final String INTERNAL = "internal:"; // HermiT's names for anonymous individuals: left out
    private static final String[] BUILTIN = {
        OWL, "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "http://www.w3.org/2000/01/rdf-schema#",
        "http://www.w3.org/2001/XMLSchema#"};

    // The regular expressions of kg.reason._entailed (there over the whole output with re.M; here over
    // one line, which is what their ^ and $ make them match anyway).
    private static final int LINES = Pattern.UNIX_LINES;
    private static final String IRI_RE = "<([^>]+)>";
    private static final Pattern CLASS_AXIOM = Pattern.compile("^(SubClassOf|EquivalentClasses)\\( ((?:<[^>]+>\\s*)+)\\)$", LINES);
    private static final Pattern ROLE_AXIOM = Pattern.compile("^(SubObjectPropertyOf|EquivalentObjectProperties)\\( (.*) \\)$", LINES);
    private static final Pattern TYPE = Pattern.compile("^Type\\( " + IRI_RE + " " + IRI_RE + " \\)$", LINES);
    private static final Pattern VALUES = Pattern.compile("^" + IRI_RE + " \\(known instances: ?(.*?)\\s*\\| possible instances:", LINES);
    private static final Pattern PAIR = Pattern.compile("\\(" + IRI_RE + ", " + IRI_RE + "\\)");
    private static final Pattern ROLE = Pattern.compile("ObjectInverseOf\\( <([^>]+)> \\)|<([^>]+)>");
    private static final Pattern NAME = Pattern.compile(IRI_RE);

    // Class expressions and axioms of the fragment where leaving chains to a fixpoint is exact.
    private static final Set<ClassExpressionType> BOOLEAN = EnumSet.of(ClassExpressionType.OWL_CLASS,
        ClassExpressionType.OBJECT_UNION_OF, ClassExpressionType.OBJECT_INTERSECTION_OF, ClassExpressionType.OBJECT_COMPLEMENT_OF);
    private static final Set<AxiomType<?>> HORN_ENOUGH = new HashSet<>(List.of(AxiomType.DECLARATION,
        AxiomType.SUBCLASS_OF, AxiomType.EQUIVALENT_CLASSES, AxiomType.DISJOINT_CLASSES, AxiomType.DISJOINT_UNION,
        AxiomType.OBJECT_PROPERTY_DOMAIN, AxiomType.OBJECT_PROPERTY_RANGE, AxiomType.DATA_PROPERTY_DOMAIN,
        AxiomType.DATA_PROPERTY_RANGE, AxiomType.SUB_OBJECT_PROPERTY, AxiomType.EQUIVALENT_OBJECT_PROPERTIES,
        AxiomType.INVERSE_OBJECT_PROPERTIES, AxiomType.FUNCTIONAL_OBJECT_PROPERTY,
        AxiomType.INVERSE_FUNCTIONAL_OBJECT_PROPERTY, AxiomType.SYMMETRIC_OBJECT_PROPERTY,
        AxiomType.TRANSITIVE_OBJECT_PROPERTY, AxiomType.SUB_PROPERTY_CHAIN_OF, AxiomType.FUNCTIONAL_DATA_PROPERTY,
        AxiomType.SUB_DATA_PROPERTY, AxiomType.EQUIVALENT_DATA_PROPERTIES, AxiomType.DISJOINT_DATA_PROPERTIES,
        AxiomType.DATATYPE_DEFINITION, AxiomType.CLASS_ASSERTION, AxiomType.OBJECT_PROPERTY_ASSERTION,
        AxiomType.DATA_PROPERTY_ASSERTION, AxiomType.NEGATIVE_OBJECT_PROPERTY_ASSERTION,
        AxiomType.NEGATIVE_DATA_PROPERTY_ASSERTION, AxiomType.SAME_INDIVIDUAL, AxiomType.DIFFERENT_INDIVIDUALS));

    private final OWLOntologyManager manager = OWLManager.createOWLOntologyManager();
    private final OWLDataFactory factory = manager.getOWLDataFactory();
    private final List<OWLOntologyChange> changes = new ArrayList<>();
    private OWLOntology context;          // ontology + shared facts: what a unit is parsed into
    private boolean shared;               // were shared facts given?

    // Derived from the context by prepare().
    private Set<OWLAxiom> tbox;           // everything but ABox and annotation axioms
    private Set<OWLAxiom> tboxWithoutChains;
    private List<OWLObjectPropertyExpression[]> chains; // {first, second, super}
    private boolean local;                // may untouched ABox components be left out?
    private boolean chainsByFixpoint;     // may chains be left to the fixpoint?
    private Map<OWLIndividual, Integer> componentOf;
    private List<List<OWLAxiom>> components;
    private Map<String, Set<String>> roleHierarchy;
    private List<List<List<String>>> baseByComponent; // entailed triples about each component, computed on demand
    private boolean baseConsistent;
    private Set<List<String>> baseSet;

    public static void main(String[] args) throws IOException {
        DataInputStream in = new DataInputStream(new BufferedInputStream(System.in, 1 << 16));
        OutputStream out = new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 1 << 16);
        System.setOut(new PrintStream(new FileOutputStream(FileDescriptor.err), true, "UTF-8"));
        new KgReasoner().serve(in, out);
    }

    private KgReasoner() {
        manager.addOntologyChangeListener(new OWLOntologyChangeListener() {
            public void ontologiesChanged(List<? extends OWLOntologyChange> applied) {
                for (OWLOntologyChange change : applied)
                    if (change.getOntology() == context)
                        changes.add(change);
            }
        });
    }

    private void serve(DataInputStream in, OutputStream out) throws IOException {
        while (true) {
            String header = readLine(in);
            if (header == null || header.equals("Q"))
                return;
            int space = header.indexOf(' ');
            char kind = header.charAt(0);
            byte[] body = new byte[Integer.parseInt(header.substring(space + 1))];
            in.readFully(body);
            String status = "ok";
            byte[] answer = new byte[0];
            try {
                if (kind == 'O') {
                    if (context != null)
                        throw new IllegalStateException("the ontology was already given");
                    context = manager.createOntology();
                    parseInto(context, body);
                    changes.clear();
                    prepare();
                    status = "ready";
                }
                else if (context == null)
                    throw new IllegalStateException("no ontology given before request " + kind);
                else if (kind == 'S') {
                    if (shared)
                        throw new IllegalStateException("shared facts were already given");
                    parseInto(context, body);
                    changes.clear();
                    shared = true;
                    prepare();
                    status = "ready";
                }
                else if (kind == 'B') {
                    List<List<String>> entailed = base();
                    if (entailed == null)
                        status = "inconsistent";
                    else
                        answer = ntriples(entailed);
                }
                else if (kind == 'M') {
                    List<byte[]> bodies = new ArrayList<>();
                    DataInputStream items = new DataInputStream(new ByteArrayInputStream(body));
                    for (String size = readLine(items); size != null; size = readLine(items)) {
                        byte[] item = new byte[Integer.parseInt(size)];
                        items.readFully(item);
                        bodies.add(item);
                    }
                    ByteArrayOutputStream all = new ByteArrayOutputStream();
                    for (Object result : many(bodies)) {
                        String verdict = result == null ? "inconsistent" : result instanceof String ? "error" : "ok";
                        @SuppressWarnings("unchecked")
                        byte[] one = result == null ? new byte[0] : result instanceof String
                            ? ((String) result).getBytes(StandardCharsets.UTF_8) : ntriples((List<List<String>>) result);
                        all.write((verdict + " " + one.length + "\n").getBytes(StandardCharsets.US_ASCII));
                        all.write(one);
                    }
                    answer = all.toByteArray();
                }
                else if (kind == 'I' || kind == 'K') {
                    List<List<String>> entailed = unit(body, kind == 'I');
                    if (entailed == null)
                        status = "inconsistent";
                    else if (kind == 'I')
                        answer = ntriples(entailed);
                }
                else
                    throw new IllegalArgumentException("unknown request " + kind);
            }
            catch (InconsistentOntologyException e) {
                status = "inconsistent";
                answer = new byte[0];
            }
            catch (Throwable e) {
                status = "error";
                answer = message(e).getBytes(StandardCharsets.UTF_8);
                if (e instanceof Error && !(e instanceof StackOverflowError)) {
                    reply(out, status, answer);
                    throw (Error) e;
                }
            }
            reply(out, status, answer);
        }
    }

    private static String readLine(DataInputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        while (true) {
            int b = in.read();
            if (b == -1)
                return line.size() == 0 ? null : new String(line.toByteArray(), StandardCharsets.US_ASCII);
            if (b == '\n')
                return new String(line.toByteArray(), StandardCharsets.US_ASCII);
            line.write(b);
        }
    }

    private static void reply(OutputStream out, String status, byte[] answer) throws IOException {
        out.write((status + " " + answer.length + "\n").getBytes(StandardCharsets.US_ASCII));
        out.write(answer);
        out.flush();
    }

    private static byte[] ntriples(List<List<String>> triples) {
        StringBuilder text = new StringBuilder();
        for (List<String> t : triples)
            text.append('<').append(t.get(0)).append("> <").append(t.get(1)).append("> <").append(t.get(2)).append("> .\n");
        return text.toString().getBytes(StandardCharsets.UTF_8);
    }

    // --- the ontology and the shared facts ------------------------------------------------------------

    private void parseInto(OWLOntology ontology, byte[] ntriples) throws Exception {
        if (ntriples.length == 0)
            return; // the Turtle parser wants at least one statement
        String text = new String(ntriples, StandardCharsets.UTF_8);
        List<Object[]> triples = Lines.read(text);
        if (triples == null) {
            TurtleOntologyParser parser = new TurtleOntologyParser();
            parser.parse(new StreamDocumentSource(new ByteArrayInputStream(ntriples)), ontology, new OWLOntologyLoaderConfiguration());
            return;
        }
        // What TurtleOntologyParser does, minus its tokenizer (two thirds of its time): the same consumer gets
        // the same calls, with terms made by a TurtleParser's own methods.
        Lines terms = new Lines(StreamDocumentSource.getNextDocumentIRI().toString());
        OWLRDFConsumerAdapter consumer = new OWLRDFConsumerAdapter(ontology, terms, new OWLOntologyLoaderConfiguration());
        consumer.setOntologyFormat(new TurtleOntologyFormat());
        for (Object[] t : triples) {
            IRI subject = terms.node((String) t[0]);
            IRI predicate = terms.getIRI((String) t[1]);
            String object = (String) t[2];
            if (object.charAt(0) != '"')
                consumer.handleTriple(subject, predicate, terms.node(object));
            else if (t[3] == null)
                consumer.handleTriple(subject, predicate, object.substring(1));
            else if (((String) t[3]).charAt(0) == '@')
                consumer.handleTriple(subject, predicate, object.substring(1), ((String) t[3]).substring(1));
            else
                consumer.handleTriple(subject, predicate, object.substring(1), terms.getIRI((String) t[3]));
        }
        consumer.handleEnd();
    }

    /**
     * N-Triples as kg.reason writes them, read without a tokenizer when nothing in them could be read
     * differently by TurtleParser's: IRIs of letters, digits and the RFC 3986 punctuation, blank node labels
     * and language tags of letters, digits, '-' and '_', and no backslash but in the escapes \n, \r and \"
     * of a literal (so none that JavaCharStream would read as \\u, and no \\ before a quote, which a
     * tokenizer might end the literal at or not). The literal's text is then what TurtleParser makes of it,
     * EscapeUtils.unescapeString of what is between the quotes (which keeps \n as it is). Anything else
     * (null from read) goes to the Turtle parser.
     */
    private static final class Lines extends TurtleParser {
        Lines(String base) {
            super(new ByteArrayInputStream(new byte[0]), null, base);
        }

        IRI node(String token) {
            return token.charAt(0) == '<' ? getIRI(token) : getNextBlankNode(token);
        }

        /** {subject, predicate, object, language "@.." or datatype "<..>" or null}; a literal object is '"' + text. */
        static List<Object[]> read(String text) {
            List<Object[]> triples = new ArrayList<>();
            int at = 0;
            int[] end = new int[1];
            while (at < text.length()) {
                String s = node(text, at, end);
                if (s == null || !text.startsWith(" ", end[0]))
                    return null;
                String p = iri(text, end[0] + 1, end);
                if (p == null || !text.startsWith(" ", end[0]))
                    return null;
                at = end[0] + 1;
                String o;
                String tag = null;
                if (text.startsWith("\"", at)) {
                    int close = at + 1;
                    while (close < text.length() && text.charAt(close) != '"') {
                        char c = text.charAt(close);
                        if (c == '\n' || c == '\r')
                            return null;
                        if (c == '\\') {
                            char next = close + 1 < text.length() ? text.charAt(close + 1) : ' ';
                            if (next != 'n' && next != 'r' && next != '"')
                                return null;
                            close++;
                        }
                        close++;
                    }
                    if (close == text.length())
                        return null;
                    o = '"' + EscapeUtils.unescapeString(text.substring(at + 1, close));
                    end[0] = close + 1;
                    if (text.startsWith("@", end[0])) {
                        int stop = end[0] + 1;
                        while (stop < text.length() && (Character.isLetterOrDigit(text.charAt(stop)) || text.charAt(stop) == '-'))
                            stop++;
                        if (stop == end[0] + 1 || !Character.isLetter(text.charAt(end[0] + 1)))
                            return null;
                        tag = text.substring(end[0], stop);
                        end[0] = stop;
                    }
                    else if (text.startsWith("^^", end[0])) {
                        tag = iri(text, end[0] + 2, end);
                        if (tag == null)
                            return null;
                    }
                }
                else {
                    o = node(text, at, end);
                    if (o == null)
                        return null;
                }
                if (!text.startsWith(" .\n", end[0]))
                    return null;
                triples.add(new Object[] {s, p, o, tag});
                at = end[0] + 3;
            }
            return triples;
        }

        private static String node(String text, int at, int[] end) {
            if (text.startsWith("_:", at)) {
                int stop = at + 2;
                while (stop < text.length() && (isAsciiLetterOrDigit(text.charAt(stop)) || text.charAt(stop) == '-' || text.charAt(stop) == '_'))
                    stop++;
                if (stop == at + 2 || !isAsciiLetterOrDigit(text.charAt(at + 2)))
                    return null;
                end[0] = stop;
                return text.substring(at, stop);
            }
            return iri(text, at, end);
        }

        private static String iri(String text, int at, int[] end) {
            if (!text.startsWith("<", at))
                return null;
            int stop = at + 1;
            while (stop < text.length() && text.charAt(stop) != '>') {
                char c = text.charAt(stop);
                if (!Character.isLetterOrDigit(c) && "-._~:/?#[]@!$&'()*+,;=%".indexOf(c) < 0)
                    return null;
                stop++;
            }
            if (stop == text.length() || stop == at + 1)
                return null;
            end[0] = stop + 1;
            return text.substring(at, stop + 1);
        }

        private static boolean isAsciiLetterOrDigit(char c) {
            return c < 128 && Character.isLetterOrDigit(c);
        }
    }

    private static boolean abox(OWLAxiom axiom) {
        return axiom.isOfType(AxiomType.ABoxAxiomTypes);
    }

    private void prepare() {
        tbox = new HashSet<>();
        List<OWLAxiom> facts = new ArrayList<>();
        for (OWLAxiom axiom : context.getAxioms()) {
            if (axiom.isAnnotationAxiom())
                continue;
            if (abox(axiom))
                facts.add(axiom);
            else
                tbox.add(axiom);
        }
        local = true;
        chainsByFixpoint = true;
        chains = new ArrayList<>();
        tboxWithoutChains = new HashSet<>();
        for (OWLAxiom axiom : tbox) {
            for (OWLClassExpression c : axiom.getNestedClassExpressions()) {
                ClassExpressionType type = c.getClassExpressionType();
                if (type == ClassExpressionType.OBJECT_ONE_OF || type == ClassExpressionType.OBJECT_HAS_VALUE)
                    local = false;
                if (!BOOLEAN.contains(type))
                    chainsByFixpoint = false;
            }
            if (axiom.isOfType(AxiomType.HAS_KEY, AxiomType.SWRL_RULE))
                local = false;
            if (axiom.getObjectPropertiesInSignature().contains(factory.getOWLTopObjectProperty())
                || axiom.getObjectPropertiesInSignature().contains(factory.getOWLBottomObjectProperty()))
                local = chainsByFixpoint = false;
            if (!axiom.isOfType(HORN_ENOUGH))
                chainsByFixpoint = false;
            if (axiom instanceof OWLSubPropertyChainOfAxiom) {
                List<OWLObjectPropertyExpression> chain = ((OWLSubPropertyChainOfAxiom) axiom).getPropertyChain();
                if (chain.size() != 2)
                    chainsByFixpoint = false;
                else
                    chains.add(new OWLObjectPropertyExpression[] {chain.get(0), chain.get(1), ((OWLSubPropertyChainOfAxiom) axiom).getSuperProperty()});
            }
            else if (axiom instanceof OWLTransitiveObjectPropertyAxiom) {
                OWLObjectPropertyExpression p = ((OWLTransitiveObjectPropertyAxiom) axiom).getProperty();
                chains.add(new OWLObjectPropertyExpression[] {p, p, p});
            }
            else
                tboxWithoutChains.add(axiom);
        }
        if (!fragment(facts))
            chainsByFixpoint = false;
        for (OWLAxiom axiom : facts)
            for (OWLClassExpression c : axiom.getNestedClassExpressions())
                if (c.getClassExpressionType() == ClassExpressionType.OBJECT_ONE_OF
                    || c.getClassExpressionType() == ClassExpressionType.OBJECT_HAS_VALUE)
                    local = false;
        // Connected components of the ABox: individuals linked by an assertion are in one component.
        Map<OWLIndividual, OWLIndividual> parent = new HashMap<>();
        for (OWLAxiom axiom : facts) {
            OWLIndividual first = null;
            for (OWLIndividual individual : individuals(axiom)) {
                if (first == null)
                    first = find(parent, individual);
                else {
                    OWLIndividual root = find(parent, individual);
                    if (!root.equals(first))
                        parent.put(root, first);
                }
            }
        }
        componentOf = new HashMap<>();
        components = new ArrayList<>();
        Map<OWLIndividual, Integer> numbers = new HashMap<>();
        for (OWLIndividual individual : parent.keySet()) {
            OWLIndividual root = find(parent, individual);
            Integer number = numbers.get(root);
            if (number == null) {
                number = components.size();
                numbers.put(root, number);
                components.add(new ArrayList<>());
            }
            componentOf.put(individual, number);
        }
        for (OWLAxiom axiom : facts) {
            List<OWLIndividual> named = individuals(axiom);
            if (!named.isEmpty())
                components.get(componentOf.get(named.get(0))).add(axiom);
            else
                tbox.add(axiom); // an assertion about no individual (cannot happen): keep it everywhere
        }
        roleHierarchy = null;
        baseByComponent = null;
        baseSet = null;
    }

    private static OWLIndividual find(Map<OWLIndividual, OWLIndividual> parent, OWLIndividual x) {
        OWLIndividual root = x;
        while (true) {
            OWLIndividual up = parent.get(root);
            if (up == null) {
                parent.put(root, root);
                break;
            }
            if (up.equals(root))
                break;
            root = up;
        }
        while (!x.equals(root)) {
            OWLIndividual up = parent.get(x);
            parent.put(x, root);
            x = up;
        }
        return root;
    }

    private static List<OWLIndividual> individuals(OWLAxiom axiom) {
        List<OWLIndividual> result = new ArrayList<>(axiom.getIndividualsInSignature());
        result.addAll(axiom.getAnonymousIndividuals());
        return result;
    }

    /** Are these facts in the fragment where chains may be left to the fixpoint (and name no anonymous individual)? */
    private static boolean fragment(Iterable<OWLAxiom> facts) {
        for (OWLAxiom axiom : facts) {
            if (!axiom.isOfType(HORN_ENOUGH) || !axiom.getAnonymousIndividuals().isEmpty())
                return false;
            if (axiom instanceof OWLClassAssertionAxiom)
                for (OWLClassExpression c : axiom.getNestedClassExpressions())
                    if (!BOOLEAN.contains(c.getClassExpressionType()))
                        return false;
        }
        return true;
    }

    /** What the ontology and the shared facts entail (null: inconsistent), kept per component for units. */
    private List<List<String>> base() throws Exception {
        if (baseByComponent == null) {
            List<OWLAxiom> all = new ArrayList<>();
            for (List<OWLAxiom> component : components)
                all.addAll(component);
            List<List<String>> entailed = reason(all, chainsByFixpoint, true);
            baseConsistent = entailed != null;
            baseByComponent = new ArrayList<>();
            for (int i = 0; i < components.size(); i++)
                baseByComponent.add(new ArrayList<>());
            if (entailed != null)
                for (List<String> triple : entailed) {
                    Integer component = componentOf.get(factory.getOWLNamedIndividual(IRI.create(triple.get(0))));
                    if (component != null)
                        baseByComponent.get(component).add(triple);
                }
        }
        if (!baseConsistent)
            return null;
        List<List<String>> result = new ArrayList<>();
        for (List<List<String>> triples : baseByComponent)
            result.addAll(triples);
        return result;
    }

    // --- a unit -----------------------------------------------------------------------------------------

    /** A unit as parsed: its own axioms and the components of the ontology's and shared facts' ABox it reaches. */
    private final class Unit {
        final List<OWLAxiom> mine = new ArrayList<>();
        final Set<Integer> touched = new HashSet<>();
        boolean facts = true;  // only assertions and declarations
        boolean renamable = true; // may be reasoned over with other units, its individuals renamed apart

        Unit(byte[] ntriples) throws Exception {
            changes.clear();
            try {
                parseInto(context, ntriples);
                for (OWLOntologyChange change : changes)
                    if (change instanceof AddAxiom && !change.getAxiom().isAnnotationAxiom())
                        mine.add(change.getAxiom());
            }
            finally {
                undo();
            }
            for (OWLAxiom axiom : mine)
                if (!abox(axiom) && !axiom.isOfType(AxiomType.DECLARATION))
                    facts = false;
            if (facts && local) {
                for (OWLAxiom axiom : mine)
                    for (OWLIndividual individual : individuals(axiom)) {
                        Integer component = componentOf.get(individual);
                        if (component != null)
                            touched.add(component);
                    }
            }
            else
                for (int i = 0; i < components.size(); i++)
                    touched.add(i);
            renamable = facts && local;
            for (OWLAxiom axiom : axioms()) {
                if (!axiom.getAnonymousIndividuals().isEmpty())
                    renamable = false;
                for (OWLNamedIndividual individual : axiom.getIndividualsInSignature())
                    if (builtin(individual.getIRI().toString()) || individual.getIRI().toString().startsWith("http://www.w3.org/2003/11/"))
                        renamable = false; // HermiT abbreviates these; a renamed one it would not
            }
        }

        List<OWLAxiom> axioms() {
            List<OWLAxiom> axioms = new ArrayList<>(mine);
            for (int component : touched)
                axioms.addAll(components.get(component));
            return axioms;
        }

        boolean byFixpoint() {
            return chainsByFixpoint && facts && fragment(mine);
        }

        /** What the components it does not reach add to its answer (none when shared facts were given). */
        List<List<String>> rest() {
            List<List<String>> rest = new ArrayList<>();
            if (!shared)
                for (int i = 0; i < components.size(); i++)
                    if (!touched.contains(i))
                        rest.addAll(baseByComponent.get(i));
            return rest;
        }
    }

    /** The unit's entailments (null: inconsistent); with `output` false, an empty list when consistent. */
    private List<List<String>> unit(byte[] ntriples, boolean output) throws Exception {
        return solve(new Unit(ntriples), output);
    }

    private List<List<String>> solve(Unit unit, boolean output) throws Exception {
        // Leaving components out is exact only if they are consistent: B answers that (once).
        if (unit.touched.size() < components.size() && base() == null)
            return null;
        List<List<String>> entailed = reason(unit.axioms(), unit.byFixpoint(), output);
        if (entailed != null && output)
            entailed.addAll(unit.rest());
        return entailed == null || !output ? entailed : news(entailed);
    }

    /**
     * With shared facts, a unit's answer without what B says: kg.reason takes infer(shared) away from it, and
     * what B says but infer(shared) does not (vocabulary, shared or ontology triples) it drops anyway.
     */
    private List<List<String>> news(List<List<String>> entailed) throws Exception {
        if (!shared || base() == null)
            return entailed;
        if (baseSet == null) {
            baseSet = new HashSet<>();
            for (List<List<String>> triples : baseByComponent)
                baseSet.addAll(triples);
        }
        List<List<String>> result = new ArrayList<>();
        for (List<String> triple : entailed)
            if (!baseSet.contains(triple))
                result.add(triple);
        return result;
    }

    private static final String RENAMED = "urn:kg-unit:";

    /**
     * Several units in one HermiT run: each unit's individuals (its own and those of the components it
     * reaches) are renamed apart, so that the run is over the disjoint union of the units' ABoxes, whose
     * entailments are each unit's own. A unit that cannot be renamed (one with class or property axioms,
     * anonymous individuals, or individuals HermiT abbreviates), or all of them if the run is inconsistent,
     * are reasoned over one by one.
     */
    private List<Object> many(List<byte[]> bodies) throws Exception {
        List<Unit> units = new ArrayList<>();
        List<Object> results = new ArrayList<>(); // entailed triples, null (inconsistent) or an error message
        for (byte[] body : bodies) {
            try {
                units.add(new Unit(body));
                results.add(null);
            }
            catch (Exception e) {
                units.add(null);
                results.add(message(e));
            }
        }
        List<Integer> together = new ArrayList<>();
        for (int j = 0; j < units.size(); j++)
            if (units.get(j) != null && units.get(j).renamable)
                together.add(j);
        boolean done = false;
        if (together.size() > 1 && (base() != null || allTouched(units, together))) {
            List<OWLAxiom> axioms = new ArrayList<>();
            boolean byFixpoint = chainsByFixpoint;
            for (int j : together) {
                Unit unit = units.get(j);
                byFixpoint &= unit.byFixpoint();
                List<OWLAxiom> own = unit.axioms();
                Map<OWLEntity, IRI> names = new HashMap<>();
                for (OWLAxiom axiom : own)
                    for (OWLNamedIndividual individual : axiom.getIndividualsInSignature())
                        names.put(individual, IRI.create(RENAMED + j + ":" + individual.getIRI()));
                OWLObjectDuplicator renamer = new OWLObjectDuplicator(names, factory);
                for (OWLAxiom axiom : own)
                    axioms.add((OWLAxiom) renamer.duplicateObject(axiom));
            }
            List<List<String>> entailed = reason(axioms, byFixpoint, true);
            if (entailed != null) {
                List<List<List<String>>> answers = new ArrayList<>();
                for (int j = 0; j < units.size(); j++)
                    answers.add(together.contains(j) ? new ArrayList<>() : null);
                for (List<String> triple : entailed) {
                    int unit = -1;
                    List<String> original = new ArrayList<>(3);
                    for (String term : triple) {
                        if (term.startsWith(RENAMED)) {
                            int colon = term.indexOf(':', RENAMED.length());
                            unit = Integer.parseInt(term.substring(RENAMED.length(), colon));
                            term = term.substring(colon + 1);
                        }
                        original.add(term);
                    }
                    if (unit >= 0)
                        answers.get(unit).add(original);
                }
                for (int j : together) {
                    answers.get(j).addAll(units.get(j).rest());
                    results.set(j, news(answers.get(j)));
                }
                done = true;
            }
        }
        for (int j = 0; j < units.size(); j++)
            if (units.get(j) != null && (!done || !together.contains(j))) {
                try {
                    results.set(j, solve(units.get(j), true));
                }
                catch (InconsistentOntologyException e) {
                    results.set(j, null);
                }
                catch (Exception e) {
                    results.set(j, message(e));
                }
            }
        return results;
    }

    private static String message(Throwable e) {
        return (e.getClass().getName() + (e.getMessage() == null ? "" : ": " + e.getMessage())).replace('\n', ' ');
    }

    private boolean allTouched(List<Unit> units, List<Integer> together) {
        for (int j : together)
            if (units.get(j).touched.size() < components.size())
                return false;
        return true;
    }

    /** Undo what parsing a unit changed in the context. */
    private void undo() {
        List<OWLOntologyChange> inverse = new ArrayList<>();
        for (int i = changes.size() - 1; i >= 0; i--) {
            OWLOntologyChange change = changes.get(i);
            OWLOntology ontology = change.getOntology();
            if (change instanceof AddAxiom)
                inverse.add(new RemoveAxiom(ontology, change.getAxiom()));
            else if (change instanceof RemoveAxiom)
                inverse.add(new AddAxiom(ontology, change.getAxiom()));
            else if (change instanceof SetOntologyID)
                inverse.add(new SetOntologyID(ontology, ((SetOntologyID) change).getOriginalOntologyID()));
            else if (change instanceof AddOntologyAnnotation)
                inverse.add(new RemoveOntologyAnnotation(ontology, ((AddOntologyAnnotation) change).getAnnotation()));
            else if (change instanceof AddImport)
                inverse.add(new RemoveImport(ontology, ((AddImport) change).getImportDeclaration()));
            else
                throw new IllegalStateException("cannot undo " + change);
        }
        changes.clear();
        manager.applyChanges(inverse);
        changes.clear();
    }

    // --- running HermiT -------------------------------------------------------------------------------

    /** HermiT on the ontology's axioms and these facts: entailed triples, or null when inconsistent. */
    private List<List<String>> reason(List<OWLAxiom> facts, boolean byFixpoint, boolean output) throws Exception {
        if (!byFixpoint)
            return run(tbox, facts, output);
        Set<List<String>> derived = chained(asserted(facts));
        while (true) {
            List<OWLAxiom> all = new ArrayList<>(facts);
            for (List<String> t : derived)
                all.add(factory.getOWLObjectPropertyAssertionAxiom(factory.getOWLObjectProperty(IRI.create(t.get(1))),
                    factory.getOWLNamedIndividual(IRI.create(t.get(0))), factory.getOWLNamedIndividual(IRI.create(t.get(2)))));
            List<List<String>> entailed = run(tboxWithoutChains, all, true);
            if (entailed == null)
                return null;
            Set<List<String>> known = new HashSet<>(entailed);
            Set<List<String>> more = new HashSet<>();
            for (List<String> t : chained(known))
                if (!known.contains(t))
                    more.add(t);
            if (more.isEmpty())
                return output ? entailed : Collections.emptyList();
            derived.addAll(more);
        }
    }

    /** Object property values asserted among named individuals, closed over the property hierarchy. */
    private Set<List<String>> asserted(List<OWLAxiom> facts) throws Exception {
        Map<String, Set<String>> hierarchy = roleHierarchy();
        Set<List<String>> values = new HashSet<>();
        for (OWLAxiom axiom : facts)
            if (axiom.isOfType(AxiomType.OBJECT_PROPERTY_ASSERTION)) {
                org.semanticweb.owlapi.model.OWLObjectPropertyAssertionAxiom a = (org.semanticweb.owlapi.model.OWLObjectPropertyAssertionAxiom) axiom;
                if (a.getSubject().isAnonymous() || a.getObject().isAnonymous())
                    continue;
                OWLObjectPropertyExpression p = a.getProperty().getSimplified();
                String s = a.getSubject().asOWLNamedIndividual().getIRI().toString();
                String o = a.getObject().asOWLNamedIndividual().getIRI().toString();
                if (p.isAnonymous()) {
                    String t = s;
                    s = o;
                    o = t;
                }
                String name = p.getNamedProperty().getIRI().toString();
                for (String role : reachable("+" + name, hierarchy)) {
                    String iri = role.substring(1);
                    values.add(role.charAt(0) == '-' ? List.of(o, iri, s) : List.of(s, iri, o));
                }
            }
        return values;
    }

    /** The values the chains add to these (closed) values, repeated until they add nothing. */
    private Set<List<String>> chained(Set<List<String>> values) throws Exception {
        Map<String, Set<String>> hierarchy = roleHierarchy();
        Set<List<String>> all = new HashSet<>(values);
        Set<List<String>> added = new LinkedHashSet<>();
        boolean grew = true;
        while (grew) {
            grew = false;
            Map<String, Map<String, Set<String>>> bySubject = new HashMap<>();
            for (List<String> t : all)
                bySubject.computeIfAbsent(t.get(1), k -> new HashMap<>()).computeIfAbsent(t.get(0), k -> new HashSet<>()).add(t.get(2));
            for (OWLObjectPropertyExpression[] chain : chains) {
                Map<String, Set<String>> first = pairs(bySubject, chain[0]);
                Map<String, Set<String>> second = pairs(bySubject, chain[1]);
                OWLObjectPropertyExpression sup = chain[2].getSimplified();
                String name = sup.getNamedProperty().getIRI().toString();
                for (Map.Entry<String, Set<String>> e : first.entrySet())
                    for (String middle : e.getValue())
                        for (String end : second.getOrDefault(middle, Set.of())) {
                            String s = sup.isAnonymous() ? end : e.getKey();
                            String o = sup.isAnonymous() ? e.getKey() : end;
                            for (String role : reachable("+" + name, hierarchy)) {
                                String iri = role.substring(1);
                                List<String> t = role.charAt(0) == '-' ? List.of(o, iri, s) : List.of(s, iri, o);
                                if (all.add(t)) {
                                    added.add(t);
                                    grew = true;
                                }
                            }
                        }
            }
        }
        return added;
    }

    /** subject -> objects of a property expression (an inverse swaps them). */
    private static Map<String, Set<String>> pairs(Map<String, Map<String, Set<String>>> bySubject, OWLObjectPropertyExpression p) {
        p = p.getSimplified();
        Map<String, Set<String>> forward = bySubject.getOrDefault(p.getNamedProperty().getIRI().toString(), Map.of());
        if (!p.isAnonymous())
            return forward;
        Map<String, Set<String>> backward = new HashMap<>();
        for (Map.Entry<String, Set<String>> e : forward.entrySet())
            for (String o : e.getValue())
                backward.computeIfAbsent(o, k -> new HashSet<>()).add(e.getKey());
        return backward;
    }

    /** The object property hierarchy HermiT reports for the ontology alone ("+iri" and "-iri" for inverses). */
    private Map<String, Set<String>> roleHierarchy() throws Exception {
        if (roleHierarchy == null) {
            OWLOntology ontology = manager.createOntology(tboxWithoutChains);
            try {
                Reasoner hermit = hermit(ontology);
                try {
                    StringWriter text = new StringWriter();
                    PrintWriter output = new PrintWriter(text);
                    hermit.precomputeInferences(InferenceType.OBJECT_PROPERTY_HIERARCHY);
                    hermit.dumpHierarchies(output, false, true, false, false);
                    output.flush();
                    roleHierarchy = roleSupers(text.toString());
                }
                finally {
                    hermit.dispose();
                }
            }
            finally {
                manager.removeOntology(ontology);
            }
        }
        return roleHierarchy;
    }

    private Reasoner hermit(OWLOntology ontology) {
        Configuration configuration = new Configuration();
        configuration.ignoreUnsupportedDatatypes = true;
        return new Reasoner(configuration, ontology);
    }

    /** One HermiT run, as the command line does it: entailed triples, or null when inconsistent. */
    private List<List<String>> run(Set<OWLAxiom> tbox, List<OWLAxiom> facts, boolean output) throws Exception {
        Set<OWLAxiom> axioms = new HashSet<>(tbox);
        axioms.addAll(facts);
        OWLOntology ontology = manager.createOntology(axioms);
        try {
            Reasoner hermit = hermit(ontology);
            try {
                if (!hermit.isConsistent())
                    return null;
                if (!output)
                    return Collections.emptyList();
                return entailed(dump(hermit));
            }
            finally {
                hermit.dispose();
            }
        }
        finally {
            manager.removeOntology(ontology);
        }
    }

    /** What HermiT's command line prints for -c -O -I -Y (CommandLine.ClassifyAction, owlready2's version). */
    private static String dump(Reasoner hermit) {
        StringWriter text = new StringWriter();
        PrintWriter output = new PrintWriter(text);
        hermit.precomputeInferences(InferenceType.CLASS_HIERARCHY, InferenceType.OBJECT_PROPERTY_HIERARCHY,
            InferenceType.CLASS_ASSERTIONS, InferenceType.OBJECT_PROPERTY_ASSERTIONS, InferenceType.DATA_PROPERTY_ASSERTIONS);
        hermit.dumpHierarchies(output, true, true, false, true);
        for (OWLNamedIndividual individual : hermit.getRootOntology().getIndividualsInSignature())
            for (Node<OWLClass> node : hermit.getTypes(individual, true))
                for (OWLClass cls : node.getEntities())
                    output.print("Type( <" + individual.toStringID() + "> <" + cls.toStringID() + "> )\n");
        output.flush();
        return text.toString();
    }

    // --- reading the dump: kg.reason._entailed ---------------------------------------------------------

    private static boolean builtin(String iri) {
        for (String prefix : BUILTIN)
            if (iri.startsWith(prefix))
                return true;
        return false;
    }

    /**
     * The lines of the dump that kg.reason._entailed's regular expressions match (all anchored at line
     * start and end): the same matches, found by each line's first word instead of by scanning the text
     * with every expression.
     */
    private static final class Dump {
        final List<String> classAxioms = new ArrayList<>();
        final List<String> roleAxioms = new ArrayList<>();
        final List<String> types = new ArrayList<>();
        final List<String> values = new ArrayList<>();

        Dump(String output) {
            int start = 0;
            while (start < output.length()) {
                int end = output.indexOf('\n', start);
                if (end < 0)
                    end = output.length();
                String line = output.substring(start, end);
                start = end + 1;
                if (line.startsWith("SubClassOf( ") || line.startsWith("EquivalentClasses( "))
                    classAxioms.add(line);
                else if (line.startsWith("SubObjectPropertyOf( ") || line.startsWith("EquivalentObjectProperties( "))
                    roleAxioms.add(line);
                else if (line.startsWith("Type( "))
                    types.add(line);
                else if (line.startsWith("<"))
                    values.add(line);
            }
        }
    }

    private static Map<String, Set<String>> roleSupers(List<String> lines) {
        Map<String, Set<String>> supers = new HashMap<>();
        for (String line : lines) {
            Matcher m = ROLE_AXIOM.matcher(line);
            if (!m.matches())
                continue;
            List<String> roles = new ArrayList<>();
            Matcher r = ROLE.matcher(m.group(2));
            while (r.find())
                roles.add(r.group(2) != null ? "+" + r.group(2) : "-" + r.group(1));
            List<String[]> pairs = new ArrayList<>();
            if (m.group(1).equals("SubObjectPropertyOf"))
                pairs.add(new String[] {roles.get(0), roles.get(1)});
            else
                for (String a : roles)
                    for (String b : roles)
                        pairs.add(new String[] {a, b});
            for (String[] pair : pairs) {
                supers.computeIfAbsent(pair[0], k -> new HashSet<>()).add(pair[1]);
                supers.computeIfAbsent(flip(pair[0]), k -> new HashSet<>()).add(flip(pair[1]));
            }
        }
        return supers;
    }

    private static Map<String, Set<String>> roleSupers(String output) {
        return roleSupers(new Dump(output).roleAxioms);
    }

    private static List<List<String>> entailed(String output) {
        Dump dump = new Dump(output);
        Set<List<String>> triples = new LinkedHashSet<>();
        Map<String, Set<String>> supers = new HashMap<>();
        for (String line : dump.classAxioms) {
            Matcher m = CLASS_AXIOM.matcher(line);
            if (!m.matches())
                continue;
            List<String> names = new ArrayList<>();
            Matcher n = NAME.matcher(m.group(2));
            while (n.find())
                names.add(n.group(1));
            if (m.group(1).equals("SubClassOf"))
                supers.computeIfAbsent(names.get(0), k -> new HashSet<>()).add(names.get(1));
            else
                for (String a : names)
                    for (String b : names)
                        supers.computeIfAbsent(a, k -> new HashSet<>()).add(b);
        }
        Map<String, Set<String>> closed = new HashMap<>();
        for (String line : dump.types) {
            Matcher m = TYPE.matcher(line);
            if (!m.matches())
                continue;
            for (String c : closed.computeIfAbsent(m.group(2), k -> reachable(k, supers)))
                if (!builtin(c) && !m.group(1).startsWith(INTERNAL))
                    triples.add(List.of(m.group(1), RDF_TYPE, c));
        }
        Map<String, Set<String>> roleSupers = roleSupers(dump.roleAxioms);
        for (String line : dump.values) {
            Matcher m = VALUES.matcher(line);
            if (!m.lookingAt())
                continue;
            List<String[]> pairs = new ArrayList<>();
            Matcher p = PAIR.matcher(m.group(2));
            while (p.find())
                pairs.add(new String[] {p.group(1), p.group(2)});
            for (String role : reachable("+" + m.group(1), roleSupers)) {
                String iri = role.substring(1);
                if (builtin(iri))
                    continue;
                boolean inverse = role.charAt(0) == '-';
                for (String[] pair : pairs)
                    if (!pair[0].startsWith(INTERNAL) && !pair[1].startsWith(INTERNAL))
                        triples.add(inverse ? List.of(pair[1], iri, pair[0]) : List.of(pair[0], iri, pair[1]));
            }
        }
        return new ArrayList<>(triples);
    }

    private static String flip(String role) {
        return (role.charAt(0) == '+' ? "-" : "+") + role.substring(1);
    }

    private static Set<String> reachable(String start, Map<String, Set<String>> edges) {
        Set<String> seen = new HashSet<>();
        seen.add(start);
        ArrayDeque<String> todo = new ArrayDeque<>();
        todo.add(start);
        while (!todo.isEmpty())
            for (String next : edges.getOrDefault(todo.pop(), Set.of()))
                if (seen.add(next))
                    todo.add(next);
        return seen;
    }
}
