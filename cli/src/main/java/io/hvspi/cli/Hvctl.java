package io.hvspi.cli;

public final class Hvctl {
    public static void main(String[] args) {
        System.out.println("hvctl");
    }
}
