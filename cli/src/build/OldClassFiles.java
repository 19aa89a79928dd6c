import java.io.IOException;
import java.io.OutputStream;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.ClassTransform;
import java.lang.classfile.CodeTransform;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.util.Collections;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

/**
 * Rewrites, in place, the jars among the arguments whose classes are older than Java 6 (class file
 * version 49 and below; picocli's are Java 5's), as class file version 52 with the stack maps the
 * split verifier needs: the same bytecode, re-emitted by the JDK's ClassFile API. The JVM leaves
 * pre-Java-6 classes out of an AOT cache ("old class"), so without this every start loaded and
 * verified picocli's 170 classes from its jar. Jars with no such class are left alone (not even
 * touched). Run with JDK 24 or newer, with the jars on the class path (stack maps need the class
 * hierarchy): {@code java -cp 'lib/*' OldClassFiles.java lib/*.jar}.
 */
public final class OldClassFiles {
    private static final int JAVA_6 = 50;

    public static void main(String[] jars) throws IOException {
        ClassFile classFile = ClassFile.of(ClassFile.StackMapsOption.GENERATE_STACK_MAPS);
        for (String name : jars) {
            Path jar = Path.of(name);
            if (!hasOldClasses(jar)) {
                continue;
            }
            Path rewritten = jar.resolveSibling(jar.getFileName() + ".rewriting");
            int count = 0;
            try (ZipFile in = new ZipFile(jar.toFile()); OutputStream file = Files.newOutputStream(rewritten);
                    ZipOutputStream out = new ZipOutputStream(file)) {
                for (ZipEntry entry : Collections.list(in.entries())) {
                    byte[] bytes = in.getInputStream(entry).readAllBytes();
                    if (isOldClass(entry, bytes)) {
                        ClassModel model = classFile.parse(bytes);
                        bytes = classFile.transformClass(model, ClassTransform.transformingMethodBodies(CodeTransform.ACCEPT_ALL)
                                .andThen(ClassTransform.endHandler(b -> b.withVersion(52, 0))));
                        count++;
                    }
                    ZipEntry copy = new ZipEntry(entry.getName());
                    copy.setLastModifiedTime(entry.getLastModifiedTime() != null ? entry.getLastModifiedTime() : FileTime.fromMillis(0));
                    out.putNextEntry(copy);
                    out.write(bytes);
                    out.closeEntry();
                }
            }
            Files.move(rewritten, jar, StandardCopyOption.REPLACE_EXISTING);
            System.out.println("hvctl: " + jar.getFileName() + ": " + count + " classes from before Java 6 rewritten as Java 8's");
        }
    }

    private static boolean hasOldClasses(Path jar) throws IOException {
        try (ZipFile zip = new ZipFile(jar.toFile())) {
            for (ZipEntry entry : Collections.list(zip.entries())) {
                if (entry.getName().endsWith(".class") && isOldClass(entry, zip.getInputStream(entry).readNBytes(8))) {
                    return true;
                }
            }
        }
        return false;
    }

    /** A class file (not a module-info, not under META-INF/versions) whose major version is below Java 6's. */
    private static boolean isOldClass(ZipEntry entry, byte[] bytes) {
        if (!entry.getName().endsWith(".class") || entry.getName().startsWith("META-INF/") || bytes.length < 8) {
            return false;
        }
        boolean magic = (bytes[0] & 0xff) == 0xCA && (bytes[1] & 0xff) == 0xFE && (bytes[2] & 0xff) == 0xBA && (bytes[3] & 0xff) == 0xBE;
        int major = ((bytes[6] & 0xff) << 8) | (bytes[7] & 0xff);
        return magic && major < JAVA_6;
    }
}
