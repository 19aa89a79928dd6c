package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

/**
 * hvspi-bom lists every artifact the reactor publishes, at the reactor's
 * version: a module added without a BOM entry would resolve to no version in
 * an outside build.
 */
class BomTest {
    private static final Path ROOT = Path.of(System.getProperty("hvspi.projectRoot"));

    private static Document read(Path pom) throws Exception {
        return DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(pom.toFile());
    }

    /** The text of {@code name} among the direct children of {@code parent}. */
    private static String child(Element parent, String name) {
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && e.getTagName().equals(name)) {
                return e.getTextContent().trim();
            }
        }
        return "";
    }

    @Test
    void theBomListsEveryPublishedModuleAtTheReactorsVersion() throws Exception {
        Element parent = read(ROOT.resolve("pom.xml")).getDocumentElement();
        Set<String> published = new TreeSet<>();
        NodeList modules = parent.getElementsByTagName("module");
        for (int i = 0; i < modules.getLength(); i++) {
            String dir = modules.item(i).getTextContent().trim();
            Element pom = read(ROOT.resolve(dir).resolve("pom.xml")).getDocumentElement();
            if (!dir.equals("bom") && !dir.startsWith("examples/")) {
                published.add(child(pom, "artifactId"));
            }
        }

        Element bom = read(ROOT.resolve("bom/pom.xml")).getDocumentElement();
        assertEquals(child(parent, "version"), child(bom, "version"), "the BOM's version is the reactor's");
        assertEquals(child(parent, "version"),
                child((Element) bom.getElementsByTagName("properties").item(0), "hvspi.version"));
        Set<String> listed = new TreeSet<>();
        List<String> versions = new ArrayList<>();
        NodeList deps = bom.getElementsByTagName("dependency");
        for (int i = 0; i < deps.getLength(); i++) {
            Element d = (Element) deps.item(i);
            if (child(d, "groupId").equals("io.hvspi")) {
                listed.add(child(d, "artifactId"));
                versions.add(child(d, "version"));
            }
        }
        assertEquals(published, listed);
        assertEquals(Set.of("${hvspi.version}"), Set.copyOf(versions));
    }
}
