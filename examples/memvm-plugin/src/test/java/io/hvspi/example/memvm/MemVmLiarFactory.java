package io.hvspi.example.memvm;

import org.pf4j.Extension;

/** memvm with a wrong declaration, in both directions: the kit must fail it. */
@Extension
public class MemVmLiarFactory extends MemVmFactory {
    public MemVmLiarFactory() {
        super(MemVmProfile.LIAR);
    }
}
